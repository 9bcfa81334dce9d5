"""`llmopt decisions list|show|approve|reject` and `llmopt configs rollback`: the lifecycle by hand."""

from __future__ import annotations

import argparse
import json

from llmopt.decide.lifecycle import approve_and_publish
from llmopt.domain import DecisionState
from llmopt.publish.rollback import rollback
from llmopt.resources import Resources, open_resources
from llmopt.settings import Settings


def list_decisions(res: Resources, state: str | None, service: str | None) -> str:
    """One line per decision, newest last."""
    lines = [f"#{d.id:<5} {d.state:<12} {d.service}/{d.task_type} [{d.strategy}] {d.from_route['model']} → "
             f"{d.to_route['model']}  ${(d.expected_savings_usd_per_day or 0):.2f}/day"
             + (f"  v{d.config_version}" if d.config_version else "")
             for d in res.decision_store.list(state, service)]
    return "\n".join(lines) or "no decisions"


def show_decision(res: Resources, decision_id: int) -> str:
    """The decision, its evidence and its audit trail as JSON."""
    store = res.decision_store
    d = store.get(decision_id)
    body = {**d.__dict__, "history": store.history(decision_id)}
    return json.dumps(body, indent=2, default=str)


def approve_decision(res: Resources, decision_id: int, reviewer: str, note: str | None) -> str:
    published = approve_and_publish(res, decision_id, reviewer, note)
    return f"decision #{decision_id} approved by {reviewer}; published {published.service} v{published.version} " \
           f"at {published.location}"


def reject_decision(res: Resources, decision_id: int, reviewer: str, note: str | None) -> str:
    res.decision_store.transition(decision_id, DecisionState.REJECTED, f"person:{reviewer}", note)
    return f"decision #{decision_id} rejected by {reviewer}; nothing published"


def rollback_service(res: Resources, service: str, to_version: int | None, reviewer: str,
                     reason: str | None) -> str:
    published = rollback(res, service, to_version, reason or "manual rollback", f"person:{reviewer}")
    return f"rolled back {service}: published v{published.version} at {published.location}"


def cmd_decisions(args: argparse.Namespace) -> int:
    res = open_resources(Settings.load(args.config))
    if args.action == "list":
        print(list_decisions(res, args.state, args.service))
    elif args.action == "show":
        print(show_decision(res, args.id))
    elif args.action == "approve":
        print(approve_decision(res, args.id, args.by, args.note))
    else:
        print(reject_decision(res, args.id, args.by, args.note))
    return 0
