"""The decision lifecycle: persist, review, publish, monitor, confirm or roll back.

proposed → approved | rejected | expired → published → monitoring → confirmed | rolled_back
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from llmopt.domain import Change, ChangeState, DecisionState
from llmopt.evaluate.registry import apply_change
from llmopt.publish.publishing import PublishedConfig, latest_config
from llmopt.publish.rollback import publish_routes
from llmopt.resources import Resources


def record_decisions(res: Resources, changes: list[Change], actor: str) -> list[Change]:
    """Persist every change as a decision (approved ones approved by their policy); returns them with ids.

    A pending change that repeats a still-proposed decision reuses it instead of proposing it again.
    """
    store, out = res.decision_store, []
    for change in changes:
        existing = store.open_proposal(change) if change.state == "pending" else None
        decision_id = existing if existing is not None else store.propose(change, actor)
        if change.state == "approved":
            store.transition(decision_id, "approved", change.decided_by)
        out.append(replace(change, decision_id=decision_id))
    return out


def apply_review(res: Resources, changes: list[Change], verdicts: dict[int, str], reviewer: str,
                 note: str | None = None) -> list[Change]:
    """Approve or reject pending changes as a person said (`verdicts`: decision id → approve | reject)."""
    store, now, out = res.decision_store, datetime.now(timezone.utc), []
    for change in changes:
        verdict = verdicts.get(change.decision_id) if change.state == "pending" else None
        if verdict in ("approve", "reject"):
            state = "approved" if verdict == "approve" else "rejected"
            store.transition(change.decision_id, state, f"person:{reviewer}", note)
            change = replace(change, state=state, decided_by=f"person:{reviewer}", decided_at=now.isoformat())
        out.append(change)
    return out


def expire_pending(res: Resources, changes: list[Change], note: str) -> list[Change]:
    """Pending changes nobody reviewed in time become `expired` (nothing is published for them)."""
    store, out = res.decision_store, []
    for change in changes:
        if change.state == "pending" and change.decision_id is not None:
            store.transition(change.decision_id, "expired", "policy:approval_timeout", note)
            change = replace(change, state="expired", decided_by="policy:approval_timeout")
        out.append(change)
    return out


def mark_published(res: Resources, changes: list[Change], published: list[PublishedConfig]) -> None:
    """Approved changes whose service got a new version: published, then monitoring."""
    store = res.decision_store
    versions = {p.service: p.version for p in published}
    for change in changes:
        if change.state == "approved" and change.decision_id is not None and change.service in versions:
            store.transition(change.decision_id, "published", "llmopt publish", config_version=versions[change.service])
            store.transition(change.decision_id, "monitoring", "llmopt publish", config_version=versions[change.service])


def approve_and_publish(res: Resources, decision_id: int, reviewer: str, note: str | None = None) -> PublishedConfig:
    """Approve a proposed decision by hand and publish it at once (what the Prefect UI form does in a run)."""
    store = res.decision_store
    decision = store.get(decision_id)
    store.transition(decision_id, "approved", f"person:{reviewer}", note)
    latest = latest_config(res.config_store, decision.service)
    previous = latest.to_dict() if latest else {}
    routes = dict(previous.get("routes", {}))
    model_settings = {m: dict(v) for m, v in previous.get("model_settings", {}).items()}
    apply_change(routes, model_settings, decision.strategy, decision.task_type, decision.to_route,
                 decision.from_route)
    previous = {**previous, "model_settings": model_settings}
    now = datetime.now(timezone.utc).isoformat()
    entry = {"strategy": decision.strategy, "task_type": decision.task_type, "from": decision.from_route,
             "to": decision.to_route, "expected_savings_usd_per_day": decision.expected_savings_usd_per_day or 0.0,
             "evidence": decision.evidence,
             "decision": {"state": "approved", "by": f"person:{reviewer}", "at": now, "id": decision_id}}
    published = publish_routes(res, decision.service, routes, [entry], {}, previous)
    store.transition(decision_id, "published", f"person:{reviewer}", config_version=published.version)
    store.transition(decision_id, "monitoring", f"person:{reviewer}", config_version=published.version)
    return published
