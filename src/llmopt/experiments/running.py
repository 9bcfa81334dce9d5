"""Experiments inside a run: which are running, their calls, the changes a ship makes, the config block."""

from __future__ import annotations

from datetime import datetime

from llmopt.decide.policy import policy_decision
from llmopt.domain import Change, Strategy
from llmopt.evaluate.registry import Scope, StrategySpec, register
from llmopt.experiments.analysis import NO_DIFFERENCE, SHIP, GUARDRAIL_BREACHED, ExperimentCall, analyze_experiment
from llmopt.experiments.definitions import ExperimentDefinition
from llmopt.experiments.simulation import hours_between
from llmopt.publish.config_model import LatestConfigs, ServiceConfig, route_of
from llmopt.prices import PriceMap
from llmopt.settings import Policy

CONCLUDING_CALLS = (SHIP, NO_DIFFERENCE, GUARDRAIL_BREACHED)


def concluded_ids(latest: LatestConfigs) -> set[str]:
    """Experiments a published config already marks as concluded."""
    return {e.id for cfg in latest.values() if cfg for e in cfg.experiments if e.status == "concluded"}


def running_experiments(definitions: list[ExperimentDefinition], latest: LatestConfigs,
                        now: datetime) -> list[ExperimentDefinition]:
    """Definitions that are running, have started and are not concluded in a published config."""
    done = concluded_ids(latest)
    return [d for d in definitions if d.status == "running" and d.id not in done and d.start < now]


def analyze_running(statistics, prices: PriceMap, definitions: list[ExperimentDefinition],
                    confidence_for, end: datetime) -> list[ExperimentCall]:
    """Call every running experiment on its cumulative traffic from its start to `end`.

    Args:
        statistics: `Resources.statistics` (the SQL table's, or the rollups' of any source).
        confidence_for: service → confidence level (the policy's, with per-service overrides).
    """
    calls = []
    for d in definitions:
        stats = statistics.variant_statistics(d.id, d.start, end, prices, sorted({v.model for v in d.variants}))
        calls.append(analyze_experiment(d, stats, hours_between(d.start, end), confidence_for(d.service)))
    return calls


def experiment_changes(calls: list[ExperimentCall], definitions: list[ExperimentDefinition],
                       latest: LatestConfigs, policy: Policy,
                       now: datetime) -> list[Change]:
    """A routing change for every `ship` call, approved or pending as the service's policy says."""
    by_id = {d.id: d for d in definitions}
    changes = []
    for call in calls:
        if call.call != SHIP:
            continue
        d = by_id[call.experiment_id]
        published = route_of(latest, d.service, d.task_type)
        route = ({"model": published.model, "provider": published.provider} if published
                 else {"model": d.variant(d.control).model, "provider": d.variant(d.control).provider})
        to = d.variant(call.ship_variant)
        per_day = sum(call.units.values()) / call.hours_run * 24 if call.hours_run > 0 else 0.0
        cost = {name: call.means.get(name, {}).get("cost_per_request", 0.0) for name in (d.control, to.name)}
        savings = (cost[d.control] - cost[to.name]) * per_day
        changes.append(Change(
            service=d.service, task_type=d.task_type, strategy=Strategy.EXPERIMENT,
            from_model=route["model"], from_provider=route["provider"], to_model=to.model, to_provider=to.provider,
            expected_savings_usd_per_day=savings, evidence={"experiment_id": d.id, **call.to_dict()},
            **policy_decision(policy, d.service, now)))
    return changes


def experiments_block(definitions: list[ExperimentDefinition], latest: LatestConfigs,
                      calls: list[ExperimentCall], changes: list[Change]) -> dict[str, list[dict]]:
    """Per service, the `experiments` list of its next config: running ones, and those concluded now or before.

    An experiment concludes on a stop call, or on a ship call whose change is approved; a pending
    ship keeps it running (the split continues until a person decides).
    """
    approved = {c.evidence.get("experiment_id") for c in changes if c.strategy == "experiment" and c.state == "approved"}
    call_of = {c.experiment_id: c for c in calls}
    previous = {e.id: e.model_dump(mode="json") for cfg in latest.values() if cfg for e in cfg.experiments}
    block: dict[str, list[dict]] = {}
    for d in definitions:
        entry = previous.get(d.id) if previous.get(d.id, {}).get("status") == "concluded" else None
        if entry is None:
            call = call_of.get(d.id)
            ends = call is not None and (call.call in (NO_DIFFERENCE, GUARDRAIL_BREACHED) or d.id in approved)
            entry = {**d.config_entry(), "status": "concluded" if ends else d.status,
                     "call": call.label if ends else None}
        block.setdefault(d.service, []).append(entry)
    return {svc: sorted(entries, key=lambda e: e["id"]) for svc, entries in block.items()}


# experiments are always on when defined; their calls come from their own analysis step
STRATEGY = register(StrategySpec(
    Strategy.EXPERIMENT, Scope.ROUTE, precedence=0, monitored=True, optional=False,
    decide=lambda calls, d: experiment_changes(calls, d.settings.experiments, d.latest, d.settings.policy, d.now)))
