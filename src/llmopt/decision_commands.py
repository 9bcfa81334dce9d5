"""`llmopt decisions list|show|approve|reject` and `llmopt configs rollback`: the lifecycle by hand."""

from __future__ import annotations

import json

from llmopt.lifecycle import approve_and_publish, decision_store, rollback
from llmopt.settings import Settings


def list_decisions(settings: Settings, state: str | None, service: str | None) -> str:
    """One line per decision, newest last."""
    lines = [f"#{d.id:<5} {d.state:<12} {d.service}/{d.task_type} [{d.strategy}] {d.from_route['model']} → "
             f"{d.to_route['model']}  ${(d.expected_savings_usd_per_day or 0):.2f}/day"
             + (f"  v{d.config_version}" if d.config_version else "")
             for d in decision_store(settings).list(state, service)]
    return "\n".join(lines) or "no decisions"


def show_decision(settings: Settings, decision_id: int) -> str:
    """The decision, its evidence and its audit trail as JSON."""
    store = decision_store(settings)
    d = store.get(decision_id)
    body = {**d.__dict__, "history": store.history(decision_id)}
    return json.dumps(body, indent=2, default=str)


def approve_decision(settings: Settings, decision_id: int, reviewer: str, note: str | None) -> str:
    published = approve_and_publish(settings, decision_id, reviewer, note)
    return f"decision #{decision_id} approved by {reviewer}; published {published.service} v{published.version} " \
           f"at {published.location}"


def reject_decision(settings: Settings, decision_id: int, reviewer: str, note: str | None) -> str:
    decision_store(settings).transition(decision_id, "rejected", f"person:{reviewer}", note)
    return f"decision #{decision_id} rejected by {reviewer}; nothing published"


def rollback_service(settings: Settings, service: str, to_version: int | None, reviewer: str,
                     reason: str | None) -> str:
    published = rollback(settings, service, to_version, reason or "manual rollback", f"person:{reviewer}")
    return f"rolled back {service}: published v{published.version} at {published.location}"
