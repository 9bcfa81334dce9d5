"""Publish checked configs to the config store and read back what it holds.

Layout (`llmopt.domain.ConfigKeys`): `<service>/v<version:06d>.json` (immutable) and its exports,
then the `latest.*` pointers, `latest.json` last, so a gateway never sees a version before it is complete.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from llmopt.domain import ConfigKeys
from llmopt.publish.exports import SUFFIX, render
from llmopt.publish.service_config import check_config
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
    configs: list[dict] = field(default_factory=list)


def latest_config(store: ConfigStore, service: str) -> dict | None:
    raw = store.read(ConfigKeys.latest(service))
    return None if raw is None else json.loads(raw)


def published_versions(store: ConfigStore, service: str) -> list[int]:
    """Every version file of `service`, including any a crashed run wrote without `latest.json`."""
    return sorted(v for k in store.list(f"{service}/") if (p := ConfigKeys.parse_version(k)) and (v := p[1]))


def list_services(store: ConfigStore) -> list[str]:
    return sorted({p[0] for k in store.list("") if (p := ConfigKeys.parse_version(k))})


def current_routes(latest: dict[str, dict | None]) -> dict[tuple[str, str], str]:
    """(service, task_type) → model, from the latest published configs."""
    return {(svc, task): route["model"] for svc, cfg in latest.items() if cfg
            for task, route in cfg["routes"].items()}


def publish(store: ConfigStore, configs: list[dict], schema: dict, exports: tuple[str, ...] = (),
            contracts_dir: Path | None = None) -> list[PublishedConfig]:
    """Check every config (and render its gateway exports) first, then write; `latest.json` last.

    Per service: `v<N>.json` and `v<N>.<export>` (never overwritten), then `latest.<export>`, then
    `latest.json`. Nothing is written unless every config and export passes its schema.
    """
    rendered = []
    for config in configs:
        check_config(config, schema)
        rendered.append({kind: render(kind, config, contracts_dir) for kind in exports})
    published = []
    for config, files in zip(configs, rendered):
        service, version = config["service"], config["version"]
        body = json.dumps(config, indent=2, sort_keys=False).encode()
        key = ConfigKeys.version(service, version)
        store.write(key, body, exclusive=True)
        for kind, data in files.items():
            store.write(ConfigKeys.version(service, version, SUFFIX[kind]), data, exclusive=True)
        for kind, data in files.items():
            store.write(ConfigKeys.latest(service, SUFFIX[kind]), data)
        store.write(ConfigKeys.latest(service), body)
        published.append(PublishedConfig(service, version, store.location(key),
                                         store.location(ConfigKeys.latest(service)), config["content_sha256"]))
    return published


