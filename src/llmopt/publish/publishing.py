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
from llmopt.publish.store import ConfigStore, PointerMoved, VersionExists


class PublishConflict(RuntimeError):
    """Another run published the same service while this one ran; this run's version was not made latest."""


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

    Per service: `v<N>.json` and `v<N>.<export>` (exclusive creates: never overwritten), then `latest.<export>`,
    then `latest.json`, each pointer swapped only if it still holds what it held before the version was written
    (S3 If-Match; a flock'd compare locally). Nothing is written unless every config and export passes its schema.
    A crash between the writes leaves a complete version above `latest.json`; `adopt_orphans` finishes it.

    Raises:
        PublishConflict: another run took the version number or moved a pointer meanwhile (names the service).
    """
    rendered = []
    for config in configs:
        body = config.to_dict()
        check_config(body, schema)
        rendered.append({kind: render(kind, body, contracts_dir, gateway_providers) for kind in exports})
    published = []
    for config, files in zip(configs, rendered):
        service, version = config.service, config.version
        pointers = {kind: store.read_tagged(ConfigKeys.latest(service, SUFFIX[kind]))[1] for kind in files}
        pointer_tag = store.read_tagged(ConfigKeys.latest(service))[1]
        key = ConfigKeys.version(service, version)
        try:
            store.write(key, config.to_json(), exclusive=True)
        except VersionExists:
            raise PublishConflict(f"{service}: v{version} was published by another run while this one ran "
                                  "(this run's changes were not published; the next run builds on it)") from None
        _finish(store, service, version, config.to_json(), files, pointers, pointer_tag)
        published.append(PublishedConfig(service, version, store.location(key),
                                         store.location(ConfigKeys.latest(service)), config.content_sha256))
    return published


def _finish(store: ConfigStore, service: str, version: int, body: bytes, files: dict[str, bytes],
            pointer_tags: dict[str, str | None], latest_tag: str | None) -> None:
    """Write a version's exports (keeping any already there) and swap its pointers, `latest.json` last."""
    for kind, data in files.items():
        try:
            store.write(ConfigKeys.version(service, version, SUFFIX[kind]), data, exclusive=True)
        except VersionExists:
            pass            # written by the attempt that crashed: rendered from the same immutable version
    try:
        for kind, data in files.items():
            store.swap(ConfigKeys.latest(service, SUFFIX[kind]), data, pointer_tags[kind])
        store.swap(ConfigKeys.latest(service), body, latest_tag)
    except PointerMoved as err:
        raise PublishConflict(f"{service}: {err} moved while v{version} was being published by this run; "
                              f"v{version} is complete but not latest (the next run adopts the highest)") from None


@dataclass(frozen=True)
class Adoption:
    """A complete version a crashed publish left above `latest.json`, now made latest; the ones it supersedes."""

    service: str
    version: int
    previous_latest: int | None
    superseded: list[int]
    config: ServiceConfig

    def published(self, store: ConfigStore) -> PublishedConfig:
        key = ConfigKeys.version(self.service, self.version)
        return PublishedConfig(self.service, self.version, store.location(key),
                               store.location(ConfigKeys.latest(self.service)), self.config.content_sha256)


def adopt_orphans(store: ConfigStore, exports: tuple[str, ...] = (), contracts_dir: Path | None = None,
                  gateway_providers: dict[str, dict[str, str]] | None = None,
                  services: list[str] | None = None) -> list[Adoption]:
    """Make every service's store consistent again: `latest.json` = its highest version.

    A version file is written atomically after its config passed every check, so one above `latest.json` is
    complete but for its exports and pointers (a publish crashed or lost its connection in between): its
    missing exports are rendered from it and its pointers swapped in. Lower orphans are superseded by it (they
    stay, immutable, and are reported).
    """
    adopted = []
    for service in services if services is not None else list_services(store):
        versions = published_versions(store, service)
        raw, tag = store.read_tagged(ConfigKeys.latest(service))
        current = ServiceConfig.from_json(raw).version if raw is not None else None
        if not versions or versions[-1] <= (current or 0):
            continue
        key = ConfigKeys.version(service, versions[-1])
        top = read_config(store, key)
        files = {kind: render(kind, top.to_dict(), contracts_dir, gateway_providers) for kind in exports}
        pointers = {kind: store.read_tagged(ConfigKeys.latest(service, SUFFIX[kind]))[1] for kind in files}
        _finish(store, service, top.version, store.read(key), files, pointers, tag)
        adopted.append(Adoption(service, top.version, current,
                                [v for v in versions[:-1] if v > (current or 0)], top))
    return adopted
