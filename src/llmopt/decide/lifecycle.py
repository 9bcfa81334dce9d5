"""The decision lifecycle: persist, review, publish, monitor, confirm or roll back.

proposed → approved | rejected | expired → published → monitoring → confirmed | rolled_back
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from llmopt.decide.decision_store import DecisionStateError, check_transition
from llmopt.domain import Change, DecisionState, Strategy
from llmopt.evaluate.exploration import exploration_block
from llmopt.evaluate.registry import apply_change
from llmopt.experiments.definitions import ExperimentDefinition
from llmopt.publish.config_model import ServiceConfig
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
    """Approve a proposed decision by hand and publish it at once (what `llmopt decisions approve` does).

    The new version is what an hourly run would have published had the policy approved the change: its route or
    settings (`apply_change`), and for an exploration its `experiments` entry (started, re-split or concluded, as
    `exploration_block` writes it), for an experiment's ship the experiment concluded with its call.

    Raises:
        DecisionStateError: the decision is not proposed, or its exploration no longer fits the published config
            (another one already runs on the task, or the one it updates no longer runs); it then stays proposed.
    """
    store = res.decision_store
    decision = store.get(decision_id)
    check_transition(decision_id, decision.state, DecisionState.APPROVED)
    by = f"person:{reviewer}"
    change = decision.approved_change(by, datetime.now(timezone.utc).isoformat())
    latest = latest_config(res.config_store, decision.service)
    previous = latest.to_dict() if latest else {}
    routes = {task: dict(route) for task, route in previous.get("routes", {}).items()}
    model_settings = {m: dict(v) for m, v in previous.get("model_settings", {}).items()}
    apply_change(routes, model_settings, change.strategy, change.task_type, change.target, change.origin)
    experiments = next_experiments(latest, change, res.settings.experiments)
    store.transition(decision_id, DecisionState.APPROVED, by, note)
    published = publish_routes(res, decision.service, routes, [change.to_config_entry()], {},
                               {**previous, "model_settings": model_settings, "experiments": experiments})
    store.transition(decision_id, DecisionState.PUBLISHED, by, config_version=published.version)
    store.transition(decision_id, DecisionState.MONITORING, by, config_version=published.version)
    return published


def next_experiments(latest: ServiceConfig | None, change: Change,
                     definitions: list[ExperimentDefinition]) -> list[dict]:
    """The `experiments` list of the version that publishes one approved change outside a run.

    An exploration change sets its entry (`exploration_block`, the run's rule); an experiment's ship concludes the
    experiment with its call (as `experiments_block` does in a run); any other change keeps the list as published.

    Raises:
        DecisionStateError: a stale exploration change (see `approve_and_publish`).
    """
    published = [e.model_dump(mode="json") for e in (latest.experiments if latest else [])]
    if change.strategy == Strategy.EXPLORATION:
        _check_exploration(published, change)
        return exploration_block({change.service: latest}, [change], {})[change.service]
    if change.strategy == Strategy.EXPERIMENT:
        exp_id, label = change.evidence.get("experiment_id"), change.evidence.get("label")
        if exp_id not in {e["id"] for e in published}:
            published += [d.config_entry() for d in definitions if d.id == exp_id and d.service == change.service]
        return [{**e, "status": "concluded", "call": label} if e["id"] == exp_id and e.get("status") != "concluded"
                else e for e in published]
    return published


def _check_exploration(published: list[dict], change: Change) -> None:
    """A start needs its task free of a running exploration; a re-split or conclusion needs its own still running."""
    entry = change.to_settings["exploration"]
    running = {e["id"] for e in published if e.get("origin") == "exploration" and e["task_type"] == change.task_type
               and e.get("status") == "running"}
    if entry["id"] in running:
        return
    if running:
        raise DecisionStateError(f"decision {change.decision_id}: exploration {sorted(running)[0]} already runs on "
                                 f"{change.service}/{change.task_type}; reject this one (a run proposes again)")
    if entry["status"] != "running" or entry["id"] in {e["id"] for e in published}:
        raise DecisionStateError(f"decision {change.decision_id}: exploration {entry['id']} no longer runs on "
                                 f"{change.service}/{change.task_type}; reject this one")
