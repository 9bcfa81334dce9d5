"""The steps of one optimization run over Resources after the lookback is pooled: fit → evaluate → decide → publish.

Tasks in `tasks/` wrap these one to one; each takes the run's Resources (built once from Settings).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from llmopt.publish.config_model import LatestConfigs
from llmopt.domain import Change, Strategy, Window
from llmopt.evaluate import budget
from llmopt.evaluate.budget import BudgetForecast
from llmopt.evaluate.canary import first_step
from llmopt.evaluate.exploration import exploration_block
from llmopt.evaluate.registry import DecisionInputs, EvaluationInputs, combine, strategies, strategy
from llmopt.evaluate.routing import RoutingEvaluation, evaluate_routing
from llmopt.experiments.analysis import ExperimentCall
from llmopt.experiments.running import analyze_running, experiments_block, running_experiments
from llmopt.fit import FittedModels, fit_models
from llmopt.publish.build import build_configs
from llmopt.publish.publishing import (Adoption, PublishOutcome, adopt_orphans, current_routes,
                                      latest_config, publish, published_versions)
from llmopt.publish.service_config import load_schema
from llmopt.resources import Resources
from llmopt.rollup.pool import PooledEvidence


@dataclass(frozen=True)
class StrategyEvaluations:
    """One strategy's evaluations of the window (what its `decide` turns into changes)."""

    strategy: str
    evaluations: list
    not_evaluated: str | None = None    # why it did not run, e.g. "needs finish_reason, which the source lacks"


def fit(res: Resources, evidence: PooledEvidence) -> FittedModels:
    """Fit the models on the lookback's pooled sample; the cells are the pooled exact statistics."""
    return fit_models(evidence.sample, res.prices, sample_rows=res.settings.fit_sample_rows, cells=evidence.cells)


def latest_configs(res: Resources, services: list[str]) -> LatestConfigs:
    """The latest config of each service seen in traffic or named by an experiment."""
    names = sorted(set(services) | {e.service for e in res.settings.experiments})
    return {svc: latest_config(res.config_store, svc) for svc in names}


def evaluate(res: Resources, window: Window, evidence: PooledEvidence, models: FittedModels,
             latest: LatestConfigs) -> list[RoutingEvaluation]:
    """Evaluate routing for every (service, task_type) on the pooled evidence, starting from the published routes.

    A task with a running experiment, a running exploration (its sequential test decides the switch) or a canary
    ramping in is held: that owns its route until it concludes.
    """
    settings = res.settings
    evaluations = evaluate_routing(evidence.sample, models, res.prices, settings.policy, current_routes(latest),
                                   evidence.lookback_hours or window.hours)
    evaluations = [replace(ev, pooled=evidence.describe(ev.service, ev.task_type)) for ev in evaluations]
    if Strategy.ROUTING not in settings.strategies:
        evaluations = [replace(ev, recommended=None, verdict="keep: the routing strategy is off") for ev in evaluations]
    forever = datetime.max.replace(tzinfo=timezone.utc)
    held = {(d.service, d.task_type): f"experiment {d.id} is running"
            for d in running_experiments(settings.experiments, latest, forever)}
    held |= {(svc, task): f"{route.canary.model} is ramping in at {route.canary.weight:.0%}"
             for svc, config in latest.items() if config for task, route in config.routes.items() if route.canary}
    held |= {(svc, e.task_type): f"exploration {e.id} is running" for svc, config in latest.items() if config
             for e in config.experiments if e.origin == "exploration" and e.status == "running"}
    return [replace(ev, recommended=None, verdict=f"held: {held[(ev.service, ev.task_type)]}")
            if (ev.service, ev.task_type) in held else ev for ev in evaluations]


def evaluate_strategy(res: Resources, name: str, window: Window, evidence: PooledEvidence,
                      routing: list[RoutingEvaluation], latest: LatestConfigs) -> StrategyEvaluations:
    """Evaluate one enabled strategy (other than routing) on the lookback's pooled sample."""
    spec = strategy(name)
    sample = evidence.sample
    lacking = [c for c in spec.columns if c not in sample.columns or sample[c].isna().all()]
    if lacking:         # deciding on nulls would look like evidence of "never truncated", "never cached"…
        return StrategyEvaluations(spec.name, [], f"needs {', '.join(lacking)}, which the source lacks")
    inputs = EvaluationInputs(res.settings, res.prices, window, evidence.sample, routing, latest,
                              sample_hours=evidence.sample_hours, cells=evidence.cells)
    return StrategyEvaluations(spec.name, spec.evaluate(inputs) if spec.evaluate else [])


def strategies_to_evaluate(res: Resources) -> list[str]:
    """The enabled strategies with an evaluate step of their own (routing has the pipeline's own step), and the
    ones always on (canary ramps in flight)."""
    known = strategies()
    chosen = [n for n in res.settings.strategies if n != Strategy.ROUTING]
    chosen += [n for n, s in known.items() if not s.optional and n not in chosen]
    return [n for n in chosen if known[n].evaluate is not None]


def analyze_experiments(res: Resources, window: Window, latest: LatestConfigs) -> list[ExperimentCall]:
    """Call every running experiment on its traffic from its start to the end of the window."""
    running = running_experiments(res.settings.experiments, latest, window.end)
    return analyze_running(res.statistics, res.prices, running,
                           lambda service: res.settings.policy.for_service(service).confidence, window.end)


def forecast_budgets(res: Resources, window: Window, changes: list[Change]) -> list[BudgetForecast]:
    """Next-24-hour spend per service from the history before the window's end (when a budget is set)."""
    policy = res.settings.policy
    if policy.budget_usd_per_day is None and not any(o.budget_usd_per_day for o in policy.services.values()):
        return []
    hourly = res.statistics.hourly_spend(window.end - timedelta(days=res.settings.budget_history_days),
                                         window.end, res.prices)
    budgets = {s: policy.for_service(s).budget_usd_per_day for s in hourly["service"].unique()}
    rows = [{"service": c.service, "task_type": c.task_type, "strategy": str(c.strategy), "to": c.to_model,
             "expected_savings_usd_per_day": c.expected_savings_usd_per_day} for c in changes]
    return budget.forecast_budgets(hourly, budgets, policy.confidence, rows)


def decide_changes(res: Resources, routing: list[RoutingEvaluation], calls: list[ExperimentCall],
                   latest: LatestConfigs, now: datetime,
                   evaluations: list[StrategyEvaluations] = (), data_time: datetime | None = None) -> list[Change]:
    """Every strategy's changes, approved or pending as each service's policy says, under the precedence rules.

    `data_time` (the window's end) is when a ramp step or an exploration begins, in the request log's time.
    """
    inputs = DecisionInputs(res.settings, latest, {(ev.service, ev.task_type): ev.current_model for ev in routing}, now,
                            routing, data_time)
    by_name = {Strategy.ROUTING: routing, Strategy.EXPERIMENT: calls,
               **{e.strategy: e.evaluations for e in evaluations}}
    specs = {name: strategy(name) for name in by_name}
    changes = combine([(specs[name], specs[name].decide(list(found), inputs)) for name, found in by_name.items()])
    changes = [first_step(c, res.settings.policy.for_service(c.service), inputs.began)
               if c.strategy in (Strategy.ROUTING, Strategy.EXPERIMENT) else c for c in changes]
    pooled = {(ev.service, ev.task_type): ev.pooled for ev in routing}
    for change in changes:      # every change states the hours and rows its evidence pooled
        if change.evidence is not None and pooled.get((change.service, change.task_type)):
            change.evidence.setdefault("pooled", pooled[(change.service, change.task_type)])
    return changes


def input_fingerprints(res: Resources, window: Window, models: FittedModels | None) -> dict[str, str]:
    """Per service: SHA-256 of the window, the service's guardrails and its per-model statistics.

    A re-run of the same window on the same data with the same policy has the same fingerprint,
    and the publish step then publishes nothing new.
    """
    out: dict[str, str] = {}
    if models is None:
        return out
    for service, cells in models.cells.groupby("service", sort=True):
        cells = cells.drop(columns=["latency_sketch"], errors="ignore")
        numbers = cells.select_dtypes("number").columns
        payload = {"window": [window.start.isoformat(), window.end.isoformat()],
                   "guardrails": res.settings.policy.for_service(service).model_dump(),
                   "cells": cells.assign(**{c: cells[c].round(9) for c in numbers}).astype(str).to_dict("records")}
        out[service] = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    return out


def publish_changes(res: Resources, window: Window, evaluations: list[RoutingEvaluation],
                    changes: list[Change], models: FittedModels | None, latest: LatestConfigs,
                    lineage_ids: dict[str, str | None], dry_run: bool = False,
                    calls: list[ExperimentCall] = ()) -> PublishOutcome:
    """Build the configs of services with approved changes or changed experiments; publish them (unless `dry_run`)."""
    settings, store = res.settings, res.config_store
    block = experiments_block(settings.experiments, latest, list(calls), changes)
    block |= exploration_block(latest, changes, block)
    services = sorted({ev.service for ev in evaluations} | set(block))
    # a retry of this step after a lost pointer write finishes this run's own version instead of adding one
    own = [] if dry_run else [a for a in adopt_orphans(store, tuple(settings.exports), settings.contracts_dir,
                                                       settings.gateway_providers, services,
                                                       settings.litellm_base_config)
                              if a.config.lineage.prefect_flow_run_id is not None
                              and a.config.lineage.prefect_flow_run_id == lineage_ids.get("prefect_flow_run_id")]
    next_versions = {svc: max(published_versions(store, svc), default=0) + 1 for svc in services}
    configs, skipped = build_configs(evaluations, changes, latest, next_versions,
                                     input_fingerprints(res, window, models),
                                     (window.start, window.end), lineage_ids, datetime.now(timezone.utc), block)
    if dry_run:
        skipped.update({c.service: "dry run: nothing published" for c in configs})
        return PublishOutcome([], skipped, configs)
    done = {a.service: a.config for a in own}
    published = [a.published(store) for a in own]
    published += publish(store, [c for c in configs if c.service not in done], load_schema(settings.contracts_dir),
                         tuple(settings.exports), settings.contracts_dir, settings.gateway_providers,
                         settings.litellm_base_config)
    return PublishOutcome(published, skipped, [done.get(c.service, c) for c in configs])


def adopt_orphan_versions(res: Resources) -> list[Adoption]:
    """Finish what a crashed publish left (see `llmopt.publish.publishing.adopt_orphans`), for every service."""
    s = res.settings
    return adopt_orphans(res.config_store, tuple(s.exports), s.contracts_dir, s.gateway_providers,
                         litellm_base_config=s.litellm_base_config)
