"""Publish checked configs to the config store and read back what it holds.

Layout (`llmopt.domain.ConfigKeys`): `<service>/v<version:06d>.json` (immutable) and its exports,
then the `latest.*` pointers, `latest.json` last, so a gateway never sees a version before it is complete.
With the `litellm` export, the organisation's LiteLLM proxy config follows (`llmopt.publish.proxy_config`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from llmopt.domain import ConfigKeys
from llmopt.publish.exports import SUFFIX, render
from pydantic import ValidationError

from llmopt.publish.config_model import ServiceConfig
from llmopt.publish.proxy_config import (ProxyConfigConflict, ProxyConfigPublished, build_proxy_config,
                                         sync_proxy_config)
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
    return parse_config(store, key, store.read(key))


def parse_config(store: ConfigStore, key: str, raw: bytes | None) -> ServiceConfig | None:
    """`raw`, read from `key`, as a config (see `read_config`)."""
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
    return _versions_by_service(store, [service]).get(service, [])


def list_services(store: ConfigStore) -> list[str]:
    return list(_versions_by_service(store, None))


def current_routes(latest: dict[str, ServiceConfig | None]) -> dict[tuple[str, str], str]:
    """(service, task_type) → model, from the latest published configs."""
    return {(svc, task): route.model for svc, cfg in latest.items() if cfg for task, route in cfg.routes.items()}


def publish(store: ConfigStore, configs: list[ServiceConfig], schema: dict, exports: tuple[str, ...] = (),
            contracts_dir: Path | None = None,
            gateway_providers: dict[str, dict[str, str]] | None = None,
            litellm_base_config: Path | None = None) -> list[PublishedConfig]:
    """Check every config (and render its gateway exports) first, then write; `latest.json` last.

    Per service: `v<N>.json` and `v<N>.<export>` (exclusive creates: never overwritten), then `latest.<export>`,
    then `latest.json`, each pointer swapped only if it still holds what it held before the version was written
    (S3 If-Match; a flock'd compare locally). Nothing is written unless every config and export passes its schema.
    A crash between the writes leaves a complete version above `latest.json`; `adopt_orphans` finishes it.
    With the `litellm` export, the organisation's proxy config (`llmopt.publish.proxy_config`) is checked with
    the others and written after every `latest.json`.

    Raises:
        PublishConflict: another run took the version number or moved a pointer meanwhile (names the service).
        ProxyConfigClash: the base file and llmopt's aliases clash (nothing is written).
    """
    rendered = []
    for config in configs:
        body = config.to_dict()
        check_config(body, schema)
        rendered.append({kind: render(kind, body, contracts_dir, gateway_providers) for kind in exports})
    if "litellm" in exports:        # the proxy config these versions will make, checked before any write
        ahead = {c["service"]: c for c in _current_configs(store)} | {c.service: c.to_dict() for c in configs}
        build_proxy_config(list(ahead.values()), litellm_base_config, _litellm(gateway_providers))
    published = []
    for config, files in zip(configs, rendered):
        service, version, body = config.service, config.version, config.to_json()
        tags = _pointer_tags(store, service, files) | {"json": store.read_tagged(ConfigKeys.latest(service))[1]}
        try:
            store.write(ConfigKeys.version(service, version), body, exclusive=True)
        except VersionExists:
            raise PublishConflict(f"{service}: v{version} was published by another run while this one ran "
                                  "(this run's changes were not published; the next run builds on it)") from None
        _finish(store, service, version, body, files, tags)
        published.append(_published(store, config))
    if "litellm" in exports:
        sync_litellm_proxy(store, contracts_dir, gateway_providers, litellm_base_config)
    return published


def sync_litellm_proxy(store: ConfigStore, contracts_dir: Path | None = None,
                       gateway_providers: dict[str, dict[str, str]] | None = None,
                       litellm_base_config: Path | None = None) -> ProxyConfigPublished | None:
    """Rewrite the organisation's LiteLLM proxy config from every service's `latest.json` if it changed.

    Raises:
        PublishConflict: other runs kept moving it (the services' versions stand; the next run writes it).
    """
    try:
        return sync_proxy_config(store, lambda: _current_configs(store), litellm_base_config,
                                 _litellm(gateway_providers), contracts_dir)
    except ProxyConfigConflict as err:
        raise PublishConflict(str(err)) from None


def _litellm(gateway_providers: dict[str, dict[str, str]] | None) -> dict[str, str] | None:
    return (gateway_providers or {}).get("litellm")


def _current_configs(store: ConfigStore) -> list[dict]:
    """Every service's latest config as a dict (services with versions but no `latest.json` yet are left out)."""
    latest = (latest_config(store, service) for service in list_services(store))
    return [config.to_dict() for config in latest if config]


def _published(store: ConfigStore, config: ServiceConfig) -> PublishedConfig:
    return PublishedConfig(config.service, config.version, store.location(ConfigKeys.version(config.service,
                                                                                            config.version)),
                           store.location(ConfigKeys.latest(config.service)), config.content_sha256)


def _pointer_tags(store: ConfigStore, service: str, files: dict[str, bytes]) -> dict[str, str | None]:
    """The tag of each `latest.<export>` pointer a publish will swap, by export kind."""
    return {kind: store.read_tagged(ConfigKeys.latest(service, SUFFIX[kind]))[1] for kind in files}


def _finish(store: ConfigStore, service: str, version: int, body: bytes, files: dict[str, bytes],
            tags: dict[str, str | None]) -> None:
    """Write a version's exports (keeping any already there) and swap its pointers, `latest.json` last."""
    for kind, data in files.items():
        try:
            store.write(ConfigKeys.version(service, version, SUFFIX[kind]), data, exclusive=True)
        except VersionExists:
            pass            # written by the attempt that crashed: rendered from the same immutable version
    try:
        for kind, data in files.items():
            store.swap(ConfigKeys.latest(service, SUFFIX[kind]), data, tags[kind])
        store.swap(ConfigKeys.latest(service), body, tags["json"])
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
        return _published(store, self.config)


def adopt_orphans(store: ConfigStore, exports: tuple[str, ...] = (), contracts_dir: Path | None = None,
                  gateway_providers: dict[str, dict[str, str]] | None = None,
                  services: list[str] | None = None, litellm_base_config: Path | None = None) -> list[Adoption]:
    """Make every service's store consistent again: `latest.json` = its highest version.

    A version file is written atomically after its config passed every check, so one above `latest.json` is
    complete but for its exports and pointers (a publish crashed or lost its connection in between): its
    missing exports are rendered from it and its pointers swapped in. Lower orphans are superseded by it (they
    stay, immutable, and are reported). With the `litellm` export the proxy config is then rebuilt from every
    service's `latest.json`, which finishes a publish that crashed before or while writing it.
    """
    adopted = []
    for service, versions in _versions_by_service(store, services).items():
        raw_latest, latest_tag = store.read_tagged(ConfigKeys.latest(service))   # one read: content and its tag
        latest = parse_config(store, ConfigKeys.latest(service), raw_latest)
        current = latest.version if latest else 0
        if versions[-1] <= current:
            continue
        key = ConfigKeys.version(service, versions[-1])
        raw = store.read(key)
        top = parse_config(store, key, raw)
        files = {kind: render(kind, top.to_dict(), contracts_dir, gateway_providers) for kind in exports}
        _finish(store, service, top.version, raw, files, _pointer_tags(store, service, files) | {"json": latest_tag})
        adopted.append(Adoption(service, top.version, current or None,
                                [v for v in versions[:-1] if v > current], top))
    if "litellm" in exports:
        sync_litellm_proxy(store, contracts_dir, gateway_providers, litellm_base_config)
    return adopted


def _versions_by_service(store: ConfigStore, services: list[str] | None) -> dict[str, list[int]]:
    """Sorted version numbers per service that has any: one listing of the store, or one per named service."""
    keys = store.list("") if services is None else [k for svc in services for k in store.list(f"{svc}/")]
    found: dict[str, list[int]] = {}
    for parsed in filter(None, map(ConfigKeys.parse_version, keys)):
        found.setdefault(parsed[0], []).append(parsed[1])
    return {svc: sorted(versions) for svc, versions in sorted(found.items())}
