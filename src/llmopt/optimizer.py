"""The steps of one optimization run, as plain functions of the settings (tasks wrap these)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

import pandas as pd

from llmopt.configs import PublishedConfig, build_configs, current_routes, latest_config, load_schema, \
    publish, published_versions
from llmopt.contracts import RequestContract, ValidationOutcome
from llmopt.decisions import Change
from llmopt.experiments.analysis import ExperimentCall
from llmopt.decisions import decide
from llmopt.experiments.running import analyze_running, experiment_changes, experiments_block, running_experiments
from llmopt.fitting import FittedModels, fit_models
from llmopt.prices import PriceMap
from llmopt.request_log import ROUTING_COLUMNS
from llmopt.routing import RoutingEvaluation, evaluate_routing
from llmopt.settings import Settings
from llmopt.strategies import budget, cascade, max_tokens, prompt_caching, reliability
from llmopt.strategies.cascade import CascadeEvaluation
from llmopt.strategies.budget import BudgetForecast
from llmopt.stores.experiment_stats_sql import read_hourly_spend
from llmopt.strategies.prompt_caching import CachingEvaluation
from llmopt.strategies.max_tokens import MaxTokensEvaluation
from llmopt.strategies.reliability import ReliabilityEvaluation
from llmopt.stores.config_store import ConfigStore, open_config_store
from llmopt.stores.request_log_sql import SqlRequestLog
from llmopt.workload import last_complete_hour


@dataclass(frozen=True)
class Window:
    """The half-open time window [start, end) a run looks at, in UTC."""

    start: datetime
    end: datetime

    @classmethod
    def resolve(cls, start: datetime | None = None, end: datetime | None = None,
                now: datetime | None = None) -> Window:
        """Default: the last complete hour. Only `start`: one hour from it. Only `end`: the hour before it.

        Raises:
            ValueError: `end` is not after `start`.
        """
        utc = lambda t: t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)  # noqa: E731
        if start is None and end is None:
            start = last_complete_hour(now)
        if start is None:
            start = utc(end) - timedelta(hours=1)
        if end is None:
            end = utc(start) + timedelta(hours=1)
        start, end = utc(start), utc(end)
        if end <= start:
            raise ValueError(f"window: end {end.isoformat()} must be after start {start.isoformat()}")
        return cls(start, end)

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600.0

    @property
    def label(self) -> str:
        return f"window {self.start.isoformat()}/{self.end.isoformat()}"


@dataclass(frozen=True)
class PublishOutcome:
    """What the publish step did."""

    published: list[PublishedConfig] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    configs: list[dict] = field(default_factory=list)


def request_log(settings: Settings) -> SqlRequestLog:
    return SqlRequestLog(settings.database_url, settings.requests_table, settings.quarantine_table)


def config_store(settings: Settings) -> ConfigStore:
    return open_config_store(settings.config_store_uri, settings.s3_endpoint_url)


def prices(settings: Settings) -> PriceMap:
    return PriceMap.from_file(settings.prices_path)


# optional columns a strategy reads, fetched with the window only when it is on and the table has them
STRATEGY_COLUMNS = {"prompt_caching": ("prefix_hashes",), "cascade": ("prompt_id", "confidence")}


def extract(settings: Settings, window: Window, progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Read the window's rows from the request log: routing columns, plus what the enabled strategies need."""
    log = request_log(settings)
    wanted = [c for s in settings.strategies for c in STRATEGY_COLUMNS.get(s, ())]
    present = set(log.present_columns()) if wanted else set()
    columns = list(ROUTING_COLUMNS) + [c for c in wanted if c in present]
    return log.extract_window(window.start, window.end, columns, progress)


def validate(settings: Settings, window: Window, frame: pd.DataFrame) -> ValidationOutcome:
    """Check the window against the contract and store its rejected rows in the quarantine table.

    The quarantine is written before a bad-row-share breach is raised, so the reasons can be read.
    """
    from llmopt.contracts import ContractBreach

    contract = RequestContract(settings.contracts_dir)
    log = request_log(settings)
    try:
        outcome = contract.validate(frame, ROUTING_COLUMNS, prices(settings), settings.policy.max_bad_row_share)
    except ContractBreach as breach:
        if breach.rejected is not None:
            log.replace_quarantine(window.label, breach.rejected)
        raise
    log.replace_quarantine(window.label, outcome.rejected)
    return outcome


def fit(settings: Settings, valid: pd.DataFrame) -> FittedModels:
    return fit_models(valid, prices(settings), sample_rows=settings.fit_sample_rows)


def latest_configs(settings: Settings, services: list[str]) -> dict[str, dict | None]:
    """The latest config of each service seen in traffic or named by an experiment."""
    store = config_store(settings)
    return {svc: latest_config(store, svc) for svc in sorted(set(services) | {e.service for e in settings.experiments})}


def evaluate(settings: Settings, window: Window, valid: pd.DataFrame, models: FittedModels,
             latest: dict[str, dict | None]) -> list[RoutingEvaluation]:
    """Evaluate routing for every (service, task_type), starting from the published routes.

    A task with a running experiment is held: the experiment owns its route until it concludes.
    """
    evaluations = evaluate_routing(valid, models, prices(settings), settings.policy, current_routes(latest),
                                   window.hours)
    if "routing" not in settings.strategies:
        evaluations = [replace(ev, recommended=None, verdict="keep: the routing strategy is off") for ev in evaluations]
    forever = datetime.max.replace(tzinfo=timezone.utc)
    held = {(d.service, d.task_type): d.id for d in running_experiments(settings.experiments, latest, forever)}
    return [replace(ev, recommended=None, verdict=f"held: experiment {held[(ev.service, ev.task_type)]} is running")
            if (ev.service, ev.task_type) in held else ev for ev in evaluations]


def analyze_experiments(settings: Settings, window: Window, latest: dict[str, dict | None]) -> list[ExperimentCall]:
    """Call every running experiment on its traffic from its start to the end of the window."""
    running = running_experiments(settings.experiments, latest, window.end)
    return analyze_running(request_log(settings), prices(settings), running,
                           lambda service: settings.policy.for_service(service).confidence, window.end)


def evaluate_reliability(settings: Settings, valid: pd.DataFrame) -> list[ReliabilityEvaluation]:
    """Timeouts, retries and fallbacks per deployment (when the `reliability` strategy is on)."""
    return reliability.evaluate_reliability(valid, settings.policy) if "reliability" in settings.strategies else []


def evaluate_max_tokens(settings: Settings, window: Window, valid: pd.DataFrame) -> list[MaxTokensEvaluation]:
    """The lowest max_tokens per task and model that keeps truncation under target (`max_tokens` strategy)."""
    if "max_tokens" not in settings.strategies:
        return []
    return max_tokens.evaluate_max_tokens(valid, settings.policy, prices(settings), window.hours,
                                          settings.reserved_output_providers)


def evaluate_caching(settings: Settings, window: Window, valid: pd.DataFrame) -> list[CachingEvaluation]:
    """Replay the window's prompt-prefix hashes per task and model (`prompt_caching` strategy)."""
    if "prompt_caching" not in settings.strategies or "prefix_hashes" not in valid.columns:
        return []
    return prompt_caching.evaluate_caching(valid, settings.policy, prices(settings), window.hours)


def forecast_budgets(settings: Settings, window: Window, changes: list[Change]) -> list[BudgetForecast]:
    """Next-24-hour spend per service from the history before the window's end (when a budget is set)."""
    policy = settings.policy
    if policy.budget_usd_per_day is None and not any(o.budget_usd_per_day for o in policy.services.values()):
        return []
    hourly = read_hourly_spend(request_log(settings), window.end - timedelta(days=settings.budget_history_days),
                               window.end, prices(settings))
    budgets = {s: settings.policy.for_service(s).budget_usd_per_day for s in hourly["service"].unique()}
    rows = [{"service": c.service, "task_type": c.task_type, "strategy": c.strategy, "to": c.to_model,
             "expected_savings_usd_per_day": c.expected_savings_usd_per_day} for c in changes]
    return budget.forecast_budgets(hourly, budgets, settings.policy.confidence, rows)


def evaluate_cascades(settings: Settings, window: Window, valid: pd.DataFrame,
                      evaluations: list[RoutingEvaluation]) -> list[CascadeEvaluation]:
    """Cheap-first cascades per task from paired answers with a confidence signal (`cascade` strategy)."""
    if "cascade" not in settings.strategies or not {"prompt_id", "confidence"} <= set(valid.columns):
        return []
    frame = valid[valid["prompt_id"].notna() & (valid["status"] == "ok")]
    current = {(ev.service, ev.task_type): (ev.current_model, ev.current.provider) for ev in evaluations}
    return cascade.evaluate_cascades(frame, current, settings.policy, prices(settings), window.hours)


def decide_changes(settings: Settings, evaluations: list[RoutingEvaluation], calls: list[ExperimentCall],
                   latest: dict[str, dict | None], now: datetime,
                   reliability_evaluations: list[ReliabilityEvaluation] = (),
                   max_tokens_evaluations: list[MaxTokensEvaluation] = (),
                   caching_evaluations: list[CachingEvaluation] = (),
                   cascade_evaluations: list[CascadeEvaluation] = ()) -> list[Change]:
    """Routing, experiment, reliability and max_tokens changes, approved or pending as each service's policy says.

    A task whose route moves in this run gets no max_tokens change: its limit belongs to the old model.
    """
    routes = decide(evaluations, settings.policy, now) + experiment_changes(calls, settings.experiments, latest,
                                                                            settings.policy, now)
    moving = {(c.service, c.task_type) for c in routes}
    routes += [c for c in cascade.decide_cascades(list(cascade_evaluations), settings.policy, now)
               if (c.service, c.task_type) not in moving]          # a full switch, when safe, beats a cascade
    moving = {(c.service, c.task_type) for c in routes}
    serving = {(ev.service, ev.task_type): ev.current_model for ev in evaluations}   # the model each task runs on
    limits = [c for c in max_tokens.decide_max_tokens(list(max_tokens_evaluations), latest, settings.policy, now)
              if (c.service, c.task_type) not in moving and serving.get((c.service, c.task_type)) == c.to_model]
    caching = [c for c in prompt_caching.decide_caching(list(caching_evaluations), serving, latest, settings.policy,
                                                         now) if (c.service, c.task_type) not in moving]
    return (routes + reliability.decide_reliability(list(reliability_evaluations), latest, settings.policy, now)
            + limits + caching)


def input_fingerprints(settings: Settings, window: Window, models: FittedModels | None) -> dict[str, str]:
    """Per service: SHA-256 of the window, the service's guardrails and its per-model statistics.

    A re-run of the same window on the same data with the same policy has the same fingerprint,
    and the publish step then publishes nothing new.
    """
    out: dict[str, str] = {}
    if models is None:
        return out
    for service, cells in models.cells.groupby("service", sort=True):
        payload = {"window": [window.start.isoformat(), window.end.isoformat()],
                   "guardrails": settings.policy.for_service(service).model_dump(),
                   "cells": cells.round(9).astype(str).to_dict("records")}
        out[service] = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    return out


def publish_changes(settings: Settings, window: Window, evaluations: list[RoutingEvaluation],
                    changes: list[Change], models: FittedModels | None, latest: dict[str, dict | None],
                    lineage_ids: dict[str, str | None], dry_run: bool = False,
                    calls: list[ExperimentCall] = ()) -> PublishOutcome:
    """Build the configs of services with approved changes or changed experiments; publish them (unless `dry_run`)."""
    store = config_store(settings)
    block = experiments_block(settings.experiments, latest, list(calls), changes)
    services = sorted({ev.service for ev in evaluations} | set(block))
    next_versions = {svc: max(published_versions(store, svc), default=0) + 1 for svc in services}
    configs, skipped = build_configs(evaluations, changes, latest, next_versions,
                                     input_fingerprints(settings, window, models),
                                     (window.start, window.end), lineage_ids, datetime.now(timezone.utc), block)
    if dry_run:
        skipped.update({c["service"]: "dry run: nothing published" for c in configs})
        return PublishOutcome([], skipped, configs)
    return PublishOutcome(publish(store, configs, load_schema(settings.contracts_dir), tuple(settings.exports),
                                  settings.contracts_dir), skipped, configs)
