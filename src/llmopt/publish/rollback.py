"""Publish routes set outside an hourly run: a rollback to an earlier version, or a change approved by hand."""

from __future__ import annotations

from datetime import datetime, timezone

from llmopt.decide.decision_store import Decision, DecisionStateError
from llmopt.domain import ConfigKeys, DecisionState, Strategy
from llmopt.publish.build import successor_config
from llmopt.publish.publishing import PublishedConfig, latest_config, publish, published_versions, read_config
from llmopt.publish.service_config import load_schema
from llmopt.resources import Resources


def publish_routes(res: Resources, service: str, routes: dict, entries: list[dict],
                   lineage_ids: dict[str, str | None], base: dict | None = None) -> PublishedConfig:
    """Publish the next version of `service`'s config with `routes` (checked against the schema first).

    A service without a published config gets its first version, holding only these routes.
    """
    store = res.config_store
    if base:                       # the latest config as the caller already read it (with edited model_settings)
        previous = base
    else:
        latest = latest_config(store, service)
        previous = latest.to_dict() if latest else None
    version = max(published_versions(store, service), default=0) + 1
    config = successor_config(service, previous, routes, entries, version, datetime.now(timezone.utc), lineage_ids)
    return publish(store, [config], load_schema(res.settings.contracts_dir), tuple(res.settings.exports),
                   res.settings.contracts_dir, res.settings.gateway_providers, res.settings.litellm_base_config)[0]


def rollback(res: Resources, service: str, to_version: int | None, reason: str, actor: str,
             decision: Decision | None = None, evidence: dict | None = None) -> PublishedConfig:
    """Publish the routes of an earlier version as a new version (a rollback never deletes anything).

    Args:
        to_version: the version whose routes come back; default the one before the latest.
        decision: roll back only this decision's task to its former route (other later changes stay).
    """
    store = res.config_store
    found = latest_config(store, service)
    if found is None:
        raise DecisionStateError(f"service {service!r} has no published config to roll back")
    latest = found.to_dict()
    if decision is not None:
        target = (decision.config_version or latest["version"]) - 1 or None
        restored = {decision.task_type: decision.from_route}
    else:
        target = to_version or latest["lineage"].get("previous_version")
        old = read_config(store, ConfigKeys.version(service, target)) if target else None
        if old is None:
            raise DecisionStateError(f"service {service!r}: there is no version {target} to roll back to")
        restored = old.to_dict()["routes"]
        # a task the target version had no route for goes back to what it was before its first later change
        for version in range(target + 1, latest["version"] + 1):
            later = read_config(store, ConfigKeys.version(service, version))
            for entry in later.to_dict()["changes"] if later else []:
                restored.setdefault(entry["task_type"], entry["from"])
    now = datetime.now(timezone.utc).isoformat()
    entries = [{"strategy": str(Strategy.ROLLBACK), "task_type": task, "from": latest["routes"].get(task, route), "to": route,
                "expected_savings_usd_per_day": 0.0,
                "evidence": {"reason": reason, "rolled_back_version": latest["version"], "restored_version": target,
                             **(evidence or {})},
                "decision": {"state": "approved", "by": actor, "at": now, "id": decision.id if decision else None}}
               for task, route in sorted(restored.items()) if latest["routes"].get(task) != route]
    if not entries:
        raise DecisionStateError(f"service {service!r}: v{latest['version']} already has the routes of v{target}")
    published = publish_routes(res, service, {**latest["routes"], **restored}, entries, {}, latest)
    if decision is not None:
        res.decision_store.transition(decision.id, DecisionState.ROLLED_BACK, actor, reason, published.version)
    return published
