"""`llmopt configs list|show|diff`: read what the config store holds."""

from __future__ import annotations

import difflib
import json

from llmopt.configs import latest_config, list_services, published_versions
from llmopt.optimizer import config_store
from llmopt.settings import Settings


def _read(settings: Settings, service: str, version: int | None) -> dict:
    store = config_store(settings)
    raw = store.read(f"{service}/v{version:06d}.json") if version else store.read(f"{service}/latest.json")
    if raw is None:
        what = f"v{version}" if version else "any version"
        raise LookupError(f"service {service!r} has no published config ({what}) in {settings.config_store_uri}")
    return json.loads(raw)


def list_configs(settings: Settings) -> str:
    """One line per service: latest version, when, routes."""
    store = config_store(settings)
    lines = []
    for service in list_services(store):
        latest = latest_config(store, service)
        versions = published_versions(store, service)
        if latest is None:
            lines.append(f"{service}: versions {versions}, no latest.json")
            continue
        routes = ", ".join(f"{t}={r['model']}" for t, r in latest["routes"].items())
        lines.append(f"{service}: v{latest['version']} of {len(versions)} ({latest['created_at']}) "
                     f"at {store.location(f'{service}/latest.json')}\n    {routes}")
    return "\n".join(lines) or f"no configs published in {settings.config_store_uri}"


def show_config(settings: Settings, service: str, version: int | None = None) -> str:
    return json.dumps(_read(settings, service, version), indent=2)


def diff_configs(settings: Settings, service: str, from_version: int | None, to_version: int | None) -> str:
    """Unified diff of two versions' routes (default: the latest against the one before)."""
    new = _read(settings, service, to_version)
    old_version = from_version or new["lineage"]["previous_version"]
    if not old_version:
        return f"{service} v{new['version']} is the first version; nothing to diff"
    old = _read(settings, service, old_version)
    a = json.dumps(old["routes"], indent=2, sort_keys=True).splitlines()
    b = json.dumps(new["routes"], indent=2, sort_keys=True).splitlines()
    return "\n".join(difflib.unified_diff(a, b, f"{service} v{old['version']} routes",
                                          f"{service} v{new['version']} routes", lineterm=""))


def export_config(settings: Settings, service: str, fmt: str, version: int | None = None) -> str:
    """The gateway export (LiteLLM YAML or Portkey JSON) of a published version, checked against its schema."""
    from llmopt.exports import render

    return render(fmt, _read(settings, service, version), settings.contracts_dir).decode()
