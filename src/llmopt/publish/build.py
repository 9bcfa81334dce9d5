"""Build the next version of a service's config: from a run's approved changes, or from routes set by hand."""

from __future__ import annotations

import hashlib
from datetime import datetime

from llmopt.domain import Change, ChangeState
from llmopt.evaluate.registry import apply_change
from llmopt.evaluate.routing import RoutingEvaluation
from llmopt.publish.config_model import LatestConfigs, ServiceConfig
from llmopt.publish.service_config import SCHEMA_VERSION, canonical_json, content_sha256, json_safe


def build_configs(evaluations: list[RoutingEvaluation], changes: list[Change],
                  latest: LatestConfigs, next_versions: dict[str, int],
                  fingerprints: dict[str, str], window: tuple[datetime, datetime],
                  lineage_ids: dict[str, str | None], now: datetime,
                  experiments: dict[str, list[dict]] | None = None) -> tuple[list[ServiceConfig], dict[str, str]]:
    """Build the new config of every service that has approved changes or whose experiments changed.

    Args:
        experiments: per service, the `experiments` list its next config carries (running and concluded).

    Returns:
        The configs to publish, and for every other service the reason nothing is published.
    """
    experiments = experiments or {}
    latest = {svc: config.to_dict() if config else None for svc, config in latest.items()}
    approved: dict[str, list[Change]] = {}
    for change in changes:
        if change.state == ChangeState.APPROVED:
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
            apply_change(routes, model_settings, change.strategy, change.task_type, change.target, change.origin)
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
        configs.append(ServiceConfig.model_validate(config))
    return configs, skipped


def successor_config(service: str, previous: dict | None, routes: dict, change_entries: list[dict], version: int,
                     now: datetime, lineage_ids: dict[str, str | None]) -> ServiceConfig:
    """The next version of a service's config with new routes, outside an hourly run (approval, rollback).

    Its lineage window is the moment it was made; its fingerprint hashes the change entries.
    """
    previous = previous or {}
    config = json_safe({
        "schema_version": SCHEMA_VERSION, "service": service, "version": version,
        "created_at": now.isoformat(), "routes": dict(sorted(routes.items())), "changes": change_entries,
        "model_settings": previous.get("model_settings", {}),
        "experiments": previous.get("experiments", []),
        "lineage": {"prefect_flow_run_id": None, "mlflow_run_id": None, **lineage_ids,
                    "previous_version": previous.get("version"), "window_start": now.isoformat(),
                    "window_end": now.isoformat(),
                    "input_fingerprint": hashlib.sha256(canonical_json(change_entries)).hexdigest()},
    })
    config["content_sha256"] = content_sha256(config)
    return ServiceConfig.model_validate(config)
