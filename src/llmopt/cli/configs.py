"""`llmopt configs list|show|diff|export|rollback|wait`: read what the config store holds."""

from __future__ import annotations

import difflib
import json

import argparse

from llmopt.domain import redact_url
from llmopt.domain import ConfigKeys
from llmopt.publish.publishing import latest_config, list_services, published_versions, read_config
from llmopt.resources import Resources, open_resources
from llmopt.settings import Settings


def _read(res: Resources, service: str, version: int | None) -> dict:
    store = res.config_store
    found = read_config(store, ConfigKeys.version(service, version) if version else ConfigKeys.latest(service))
    if found is None:
        what = f"v{version}" if version else "any version"
        raise LookupError(f"service {service!r} has no published config ({what}) in "
                          f"{redact_url(res.settings.config_store_uri)}")
    return found.to_dict()


def list_configs(res: Resources) -> str:
    """One line per service: latest version, when, routes."""
    store = res.config_store
    lines = []
    for service in list_services(store):
        latest = latest_config(store, service)
        versions = published_versions(store, service)
        if latest is None:
            lines.append(f"{service}: versions {versions}, no latest.json")
            continue
        routes = ", ".join(f"{t}={r.model}" for t, r in latest.routes.items())
        lines.append(f"{service}: v{latest.version} of {len(versions)} ({latest.created_at}) "
                     f"at {store.location(ConfigKeys.latest(service))}\n    {routes}")
    return "\n".join(lines) or f"no configs published in {redact_url(res.settings.config_store_uri)}"


def show_config(res: Resources, service: str, version: int | None = None) -> str:
    return json.dumps(_read(res, service, version), indent=2)


def diff_configs(res: Resources, service: str, from_version: int | None, to_version: int | None) -> str:
    """Unified diff of two versions' routes (default: the latest against the one before)."""
    new = _read(res, service, to_version)
    old_version = from_version or new["lineage"]["previous_version"]
    if not old_version:
        return f"{service} v{new['version']} is the first version; nothing to diff"
    old = _read(res, service, old_version)
    a = json.dumps(old["routes"], indent=2, sort_keys=True).splitlines()
    b = json.dumps(new["routes"], indent=2, sort_keys=True).splitlines()
    return "\n".join(difflib.unified_diff(a, b, f"{service} v{old['version']} routes",
                                          f"{service} v{new['version']} routes", lineterm=""))


def export_config(res: Resources, service: str, fmt: str, version: int | None = None) -> str:
    """The gateway export (LiteLLM YAML or Portkey JSON) of a published version, checked against its schema."""
    from llmopt.publish.exports import render

    return render(fmt, _read(res, service, version), res.settings.contracts_dir, res.settings.gateway_providers).decode()


def poll_interval(value: str) -> float:
    """`--interval`: seconds between polls of the store, bounded."""
    seconds = float(value)
    if not 0.1 <= seconds <= 300:     # neither a busy loop on the store nor a rollout minutes late
        raise argparse.ArgumentTypeError(f"poll interval {value} s: expected 0.1 to 300")
    return seconds


def wait_config(res: Resources, export: str, after: int, timeout_s: float | None, interval_s: float) -> int:
    """The org version of the first `export` proxy config newer than `after` (polls the store).

    Raises:
        TimeoutError: none was published within `timeout_s` (one line: the CLI exits 1).
    """
    from llmopt.publish.proxy_config import PROXY_KEY, wait_for_proxy_config

    store = res.config_store
    version = wait_for_proxy_config(store, after, timeout_s, interval_s)
    if version is None:
        raise TimeoutError(f"no {export} proxy config newer than v{after} at {redact_url(store.location(PROXY_KEY))} "
                           f"within {timeout_s:g} s")
    return version


def cmd_configs(args: argparse.Namespace) -> int:
    res = open_resources(Settings.load(args.config))
    if args.action == "wait":
        print(wait_config(res, args.export, args.after, args.timeout, args.interval), flush=True)
    elif args.action == "rollback":
        from llmopt.cli.decisions import rollback_service

        print(rollback_service(res, args.service, args.to, args.by, args.reason))
    elif args.action == "export":
        print(export_config(res, args.service, args.format, args.version), end="")
    elif args.action == "list":
        print(list_configs(res))
    elif args.action == "show":
        print(show_config(res, args.service, args.version))
    else:
        print(diff_configs(res, args.service, args.from_version, args.to_version))
    return 0
