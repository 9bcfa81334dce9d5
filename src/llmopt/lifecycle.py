"""The decision lifecycle: persist, review, publish, monitor, confirm or roll back.

proposed → approved | rejected | expired → published → monitoring → confirmed | rolled_back
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone

from llmopt.configs import PublishedConfig, latest_config, load_schema, publish, published_versions, successor_config
from llmopt.decisions import Change
from llmopt.optimizer import config_store
from llmopt.settings import Settings
from llmopt.stores.decision_store import Decision, DecisionStateError, DecisionStore


def decision_store(settings: Settings) -> DecisionStore:
    return DecisionStore(settings.database_url)


def record_decisions(settings: Settings, changes: list[Change], actor: str) -> list[Change]:
    """Persist every change as a decision (approved ones approved by their policy); returns them with ids.

    A pending change that repeats a still-proposed decision reuses it instead of proposing it again.
    """
    store, out = decision_store(settings), []
    for change in changes:
        existing = store.open_proposal(change) if change.state == "pending" else None
        decision_id = existing if existing is not None else store.propose(change, actor)
        if change.state == "approved":
            store.transition(decision_id, "approved", change.decided_by)
        out.append(replace(change, decision_id=decision_id))
    return out


def apply_review(settings: Settings, changes: list[Change], verdicts: dict[int, str], reviewer: str,
                 note: str | None = None) -> list[Change]:
    """Approve or reject pending changes as a person said (`verdicts`: decision id → approve | reject)."""
    store, now, out = decision_store(settings), datetime.now(timezone.utc), []
    for change in changes:
        verdict = verdicts.get(change.decision_id) if change.state == "pending" else None
        if verdict in ("approve", "reject"):
            state = "approved" if verdict == "approve" else "rejected"
            store.transition(change.decision_id, state, f"person:{reviewer}", note)
            change = replace(change, state=state, decided_by=f"person:{reviewer}", decided_at=now.isoformat())
        out.append(change)
    return out


def expire_pending(settings: Settings, changes: list[Change], note: str) -> list[Change]:
    """Pending changes nobody reviewed in time become `expired` (nothing is published for them)."""
    store, out = decision_store(settings), []
    for change in changes:
        if change.state == "pending" and change.decision_id is not None:
            store.transition(change.decision_id, "expired", "policy:approval_timeout", note)
            change = replace(change, state="expired", decided_by="policy:approval_timeout")
        out.append(change)
    return out


def mark_published(settings: Settings, changes: list[Change], published: list[PublishedConfig]) -> None:
    """Approved changes whose service got a new version: published, then monitoring."""
    store = decision_store(settings)
    versions = {p.service: p.version for p in published}
    for change in changes:
        if change.state == "approved" and change.decision_id is not None and change.service in versions:
            store.transition(change.decision_id, "published", "llmopt publish", config_version=versions[change.service])
            store.transition(change.decision_id, "monitoring", "llmopt publish", config_version=versions[change.service])


def publish_routes(settings: Settings, service: str, routes: dict, entries: list[dict],
                   lineage_ids: dict[str, str | None], base: dict | None = None) -> PublishedConfig:
    """Publish the next version of `service`'s config with `routes` (checked against the schema first).

    A service without a published config gets its first version, holding only these routes.
    """
    store = config_store(settings)
    previous = base if base else latest_config(store, service)   # base: the latest with edited model_settings
    version = max(published_versions(store, service), default=0) + 1
    config = successor_config(service, previous, routes, entries, version, datetime.now(timezone.utc), lineage_ids)
    return publish(store, [config], load_schema(settings.contracts_dir), tuple(settings.exports),
                   settings.contracts_dir)[0]


def approve_and_publish(settings: Settings, decision_id: int, reviewer: str, note: str | None = None) -> PublishedConfig:
    """Approve a proposed decision by hand and publish it at once (what the Prefect UI form does in a run)."""
    store = decision_store(settings)
    decision = store.get(decision_id)
    store.transition(decision_id, "approved", f"person:{reviewer}", note)
    previous = latest_config(config_store(settings), decision.service) or {}
    routes = dict(previous.get("routes", {}))
    target = {k: decision.to_route[k] for k in ("model", "provider")}
    extra = {k: v for k, v in decision.to_route.items() if k not in target}
    if decision.strategy == "reliability":      # deployment settings, not a route
        previous = {**previous, "model_settings": {**previous.get("model_settings", {}),
                                                   target["model"]: {"provider": target["provider"], **extra}}}
    elif decision.strategy in ("max_tokens", "prompt_caching"):
        routes[decision.task_type] = {**routes.get(decision.task_type, target), **extra}
    else:                                       # routing, experiment, cascade: the route itself moves
        routes[decision.task_type] = dict(decision.to_route)
    now = datetime.now(timezone.utc).isoformat()
    entry = {"strategy": decision.strategy, "task_type": decision.task_type, "from": decision.from_route,
             "to": decision.to_route, "expected_savings_usd_per_day": decision.expected_savings_usd_per_day or 0.0,
             "evidence": decision.evidence,
             "decision": {"state": "approved", "by": f"person:{reviewer}", "at": now, "id": decision_id}}
    published = publish_routes(settings, decision.service, routes, [entry], {}, previous)
    store.transition(decision_id, "published", f"person:{reviewer}", config_version=published.version)
    store.transition(decision_id, "monitoring", f"person:{reviewer}", config_version=published.version)
    return published


def rollback(settings: Settings, service: str, to_version: int | None, reason: str, actor: str,
             decision: Decision | None = None, evidence: dict | None = None) -> PublishedConfig:
    """Publish the routes of an earlier version as a new version (a rollback never deletes anything).

    Args:
        to_version: the version whose routes come back; default the one before the latest.
        decision: roll back only this decision's task to its former route (other later changes stay).
    """
    store = config_store(settings)
    latest = latest_config(store, service)
    if latest is None:
        raise DecisionStateError(f"service {service!r} has no published config to roll back")
    if decision is not None:
        target = (decision.config_version or latest["version"]) - 1 or None
        restored = {decision.task_type: decision.from_route}
    else:
        target = to_version or latest["lineage"].get("previous_version")
        raw = store.read(f"{service}/v{target:06d}.json") if target else None
        if raw is None:
            raise DecisionStateError(f"service {service!r}: there is no version {target} to roll back to")
        restored = json.loads(raw)["routes"]
        # a task the target version had no route for goes back to what it was before its first later change
        for version in range(target + 1, latest["version"] + 1):
            later = store.read(f"{service}/v{version:06d}.json")
            for entry in json.loads(later)["changes"] if later else []:
                restored.setdefault(entry["task_type"], entry["from"])
    now = datetime.now(timezone.utc).isoformat()
    entries = [{"strategy": "rollback", "task_type": task, "from": latest["routes"].get(task, route), "to": route,
                "expected_savings_usd_per_day": 0.0,
                "evidence": {"reason": reason, "rolled_back_version": latest["version"], "restored_version": target,
                             **(evidence or {})},
                "decision": {"state": "approved", "by": actor, "at": now, "id": decision.id if decision else None}}
               for task, route in sorted(restored.items()) if latest["routes"].get(task) != route]
    if not entries:
        raise DecisionStateError(f"service {service!r}: v{latest['version']} already has the routes of v{target}")
    published = publish_routes(settings, service, {**latest["routes"], **restored}, entries, {})
    if decision is not None:
        decision_store(settings).transition(decision.id, "rolled_back", actor, reason, published.version)
    return published
