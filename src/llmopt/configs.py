"""Build, check and publish versioned service configs to a config store.

Layout in the store: `<service>/v<version:06d>.json` (immutable), then `<service>/latest.json`,
written last so that a gateway never sees a version before it is complete.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema

from llmopt.decisions import Change
from llmopt.routing import RoutingEvaluation
from llmopt.stores.config_store import ConfigStore

SCHEMA_VERSION = "1.0"
SCHEMA_FILE = "service_config.schema.json"
VERSION_KEY = re.compile(r"^(?P<service>[^/]+)/v(?P<version>\d{6})\.json$")


class ConfigSchemaError(ValueError):
    """A built config does not match data_contracts/service_config.schema.json."""


@dataclass(frozen=True)
class PublishedConfig:
    """Where one service's new version lies."""

    service: str
    version: int
    location: str
    latest_location: str
    content_sha256: str


def json_safe(value: Any) -> Any:
    """Replace NaN and ±inf (not valid JSON) by None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):      # numpy scalars
        return json_safe(value.item())
    return value


def canonical_json(value: Any) -> bytes:
    return json.dumps(json_safe(value), sort_keys=True, separators=(",", ":")).encode()


def content_sha256(config: dict) -> str:
    """SHA-256 of the canonical JSON of the config without its own `content_sha256`."""
    return hashlib.sha256(canonical_json({k: v for k, v in config.items() if k != "content_sha256"})).hexdigest()


def latest_config(store: ConfigStore, service: str) -> dict | None:
    raw = store.read(f"{service}/latest.json")
    return None if raw is None else json.loads(raw)


def published_versions(store: ConfigStore, service: str) -> list[int]:
    """Every version file of `service`, including any a crashed run wrote without `latest.json`."""
    return sorted(int(m["version"]) for k in store.list(f"{service}/") if (m := VERSION_KEY.match(k)))


def list_services(store: ConfigStore) -> list[str]:
    return sorted({m["service"] for k in store.list("") if (m := VERSION_KEY.match(k))})


def current_routes(latest: dict[str, dict | None]) -> dict[tuple[str, str], str]:
    """(service, task_type) → model, from the latest published configs."""
    return {(svc, task): route["model"] for svc, cfg in latest.items() if cfg
            for task, route in cfg["routes"].items()}


def load_schema(contracts_dir: Path) -> dict:
    return json.loads((Path(contracts_dir) / SCHEMA_FILE).read_text())


def check_config(config: dict, schema: dict) -> None:
    """Raise ConfigSchemaError naming the field if `config` breaks the schema or its own hash."""
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "<root>"
        raise ConfigSchemaError(f"config for {config.get('service')!r}: {where}: {first.message}")
    if config["content_sha256"] != content_sha256(config):
        raise ConfigSchemaError(f"config for {config['service']!r}: content_sha256 does not match content")


def build_configs(evaluations: list[RoutingEvaluation], changes: list[Change],
                  latest: dict[str, dict | None], next_versions: dict[str, int],
                  fingerprints: dict[str, str], window: tuple[datetime, datetime],
                  lineage_ids: dict[str, str | None], now: datetime,
                  experiments: dict[str, list[dict]] | None = None) -> tuple[list[dict], dict[str, str]]:
    """Build the new config of every service that has approved changes or whose experiments changed.

    Args:
        experiments: per service, the `experiments` list its next config carries (running and concluded).

    Returns:
        The configs to publish, and for every other service the reason nothing is published.
    """
    experiments = experiments or {}
    approved: dict[str, list[Change]] = {}
    for change in changes:
        if change.state == "approved":
            approved.setdefault(change.service, []).append(change)
    moved = {svc for svc, block in experiments.items() if block != (latest.get(svc) or {}).get("experiments", [])}
    seen = {ev.service for ev in evaluations} | set(experiments)
    skipped = {svc: "no approved change" for svc in seen if svc not in approved and svc not in moved}
    configs = []
    for service in sorted(set(approved) | moved):
        service_changes = approved.get(service, [])
        previous = latest.get(service)
        block = experiments.get(service, (previous or {}).get("experiments", []))
        fingerprint = fingerprints.get(service) or hashlib.sha256(canonical_json(block)).hexdigest()
        if (previous and previous["lineage"].get("input_fingerprint") == fingerprint
                and previous.get("experiments", []) == block):
            skipped[service] = f"already published as v{previous['version']} for this window, data and policy"
            continue
        routes = {task: dict(route) for task, route in (previous or {}).get("routes", {}).items()}
        for ev in evaluations:
            if ev.service == service:
                routes.setdefault(ev.task_type, {"model": ev.current_model, "provider": ev.current.provider})
        for entry in block:
            control = next(v for v in entry["variants"] if v["name"] == entry["control"])
            routes.setdefault(entry["task_type"], {"model": control["model"], "provider": control["provider"]})
        model_settings = {m: dict(v) for m, v in (previous or {}).get("model_settings", {}).items()}
        for change in service_changes:
            if change.strategy == "reliability":
                model_settings[change.to_model] = {"provider": change.to_provider, **(change.to_settings or {})}
            elif change.strategy in ("max_tokens", "prompt_caching"):
                route = routes.get(change.task_type, {"model": change.to_model, "provider": change.to_provider})
                routes[change.task_type] = {**route, **(change.to_settings or {})}
            else:   # routing, experiment, cascade (with its escalation settings), rollback
                routes[change.task_type] = {"model": change.to_model, "provider": change.to_provider,
                                            **(change.to_settings if change.strategy == "cascade" else {})}
        config = json_safe({
            "schema_version": SCHEMA_VERSION, "service": service, "version": next_versions[service],
            "created_at": now.isoformat(), "routes": dict(sorted(routes.items())),
            "changes": [c.to_config_entry() for c in service_changes],
            "model_settings": dict(sorted(model_settings.items())),
            "experiments": block,
            "lineage": {**lineage_ids, "previous_version": previous["version"] if previous else None,
                        "window_start": window[0].isoformat(), "window_end": window[1].isoformat(),
                        "input_fingerprint": fingerprint},
        })
        config["content_sha256"] = content_sha256(config)
        configs.append(config)
    return configs, skipped


def publish(store: ConfigStore, configs: list[dict], schema: dict, exports: tuple[str, ...] = (),
            contracts_dir: Path | None = None) -> list[PublishedConfig]:
    """Check every config (and render its gateway exports) first, then write; `latest.json` last.

    Per service: `v<N>.json` and `v<N>.<export>` (never overwritten), then `latest.<export>`, then
    `latest.json`. Nothing is written unless every config and export passes its schema.
    """
    from llmopt.exports import SUFFIX, render

    rendered = []
    for config in configs:
        check_config(config, schema)
        rendered.append({kind: render(kind, config, contracts_dir) for kind in exports})
    published = []
    for config, files in zip(configs, rendered):
        service, version = config["service"], config["version"]
        body = json.dumps(config, indent=2, sort_keys=False).encode()
        key = f"{service}/v{version:06d}.json"
        store.write(key, body, exclusive=True)
        for kind, data in files.items():
            store.write(f"{service}/v{version:06d}.{SUFFIX[kind]}", data, exclusive=True)
        for kind, data in files.items():
            store.write(f"{service}/latest.{SUFFIX[kind]}", data)
        store.write(f"{service}/latest.json", body)
        published.append(PublishedConfig(service, version, store.location(key),
                                         store.location(f"{service}/latest.json"), config["content_sha256"]))
    return published


def successor_config(service: str, previous: dict | None, routes: dict, change_entries: list[dict], version: int,
                     now: datetime, lineage_ids: dict[str, str | None]) -> dict:
    """The next version of a service's config with new routes, outside an hourly run (approval, rollback).

    Its lineage window is the moment it was made; its fingerprint hashes the change entries.
    """
    previous = previous or {}
    config = json_safe({
        "schema_version": SCHEMA_VERSION, "service": service, "version": version,
        "created_at": now.isoformat(), "routes": dict(sorted(routes.items())), "changes": change_entries,
        "model_settings": previous.get("model_settings", {}),
        "experiments": previous.get("experiments", []),
        "lineage": {"mlflow_run_id": None, "prefect_flow_run_id": None, **lineage_ids,
                    "previous_version": previous.get("version"), "window_start": now.isoformat(),
                    "window_end": now.isoformat(),
                    "input_fingerprint": hashlib.sha256(canonical_json(change_entries)).hexdigest()},
    })
    config["content_sha256"] = content_sha256(config)
    return config
