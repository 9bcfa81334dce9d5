"""Publish checked configs to the config store and read back what it holds.

Layout (`llmopt.domain.ConfigKeys`): `<service>/v<version:06d>.json` (immutable) and its exports,
then the `latest.*` pointers, `latest.json` last, so a gateway never sees a version before it is complete.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from llmopt.domain import ConfigKeys
from llmopt.publish.exports import SUFFIX, render
from pydantic import ValidationError

from llmopt.publish.config_model import ServiceConfig
from llmopt.publish.service_config import ConfigSchemaError, check_config
from llmopt.publish.store import ConfigStore


@dataclass(frozen=True)
class PublishedConfig:
    """Where one service's new version lies."""

    service: str
    version: int
    location: str
    latest_location: str
    content_sha256: str


@dataclass(frozen=True)
class PublishOutcome:
    """What the publish step did: versions written, services skipped (with why), the configs built."""

    published: list[PublishedConfig] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    configs: list[ServiceConfig] = field(default_factory=list)


def read_config(store: ConfigStore, key: str) -> ServiceConfig | None:
    """The config stored at `key`, parsed once (None if there is none).

    Raises:
        ConfigSchemaError: the stored file is not a valid service config (names the field).
    """
    raw = store.read(key)
    if raw is None:
        return None
    try:
        return ServiceConfig.from_json(raw)
    except (ValidationError, ValueError) as err:
        raise ConfigSchemaError(f"{store.location(key)} is not a valid llmopt service config: "
                                f"{str(err).splitlines()[0:3]}") from err


def latest_config(store: ConfigStore, service: str) -> ServiceConfig | None:
    """The service's latest published config, or None before its first version."""
    return read_config(store, ConfigKeys.latest(service))


def published_versions(store: ConfigStore, service: str) -> list[int]:
    """Every version file of `service`, including any a crashed run wrote without `latest.json`."""
    return sorted(v for k in store.list(f"{service}/") if (p := ConfigKeys.parse_version(k)) and (v := p[1]))


def list_services(store: ConfigStore) -> list[str]:
    return sorted({p[0] for k in store.list("") if (p := ConfigKeys.parse_version(k))})


def current_routes(latest: dict[str, ServiceConfig | None]) -> dict[tuple[str, str], str]:
    """(service, task_type) → model, from the latest published configs."""
    return {(svc, task): route.model for svc, cfg in latest.items() if cfg for task, route in cfg.routes.items()}


def publish(store: ConfigStore, configs: list[ServiceConfig], schema: dict, exports: tuple[str, ...] = (),
            contracts_dir: Path | None = None,
            gateway_providers: dict[str, dict[str, str]] | None = None) -> list[PublishedConfig]:
    """Check every config (and render its gateway exports) first, then write; `latest.json` last.

    Per service: `v<N>.json` and `v<N>.<export>` (never overwritten), then `latest.<export>`, then
    `latest.json`. Nothing is written unless every config and export passes its schema.
    """
    rendered = []
    for config in configs:
        body = config.to_dict()
        check_config(body, schema)
        rendered.append({kind: render(kind, body, contracts_dir, gateway_providers) for kind in exports})
    published = []
    for config, files in zip(configs, rendered):
        service, version = config.service, config.version
        body = config.to_json()
        key = ConfigKeys.version(service, version)
        store.write(key, body, exclusive=True)
        for kind, data in files.items():
            store.write(ConfigKeys.version(service, version, SUFFIX[kind]), data, exclusive=True)
        for kind, data in files.items():
            store.write(ConfigKeys.latest(service, SUFFIX[kind]), data)
        store.write(ConfigKeys.latest(service), body)
        published.append(PublishedConfig(service, version, store.location(key),
                                         store.location(ConfigKeys.latest(service)), config.content_sha256))
    return published


