"""The strategy registry: each strategy is one module that declares itself here with `register(...)`.

A strategy says its name, the guardrails it reads, the optional request-log columns it needs, how it
evaluates a window, how its evaluations become changes, what its approved change edits in a config
(`scope`), its precedence against the others and whether the post-change monitor watches it.
Adding a strategy is adding a module to `llmopt.evaluate` (or `llmopt.experiments`): it is found there.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from itertools import groupby
from typing import Any

import pandas as pd

from llmopt.publish.config_model import LatestConfigs
from llmopt.domain import Change, Strategy, Window
from llmopt.prices import PriceMap
from llmopt.settings import Settings


class Scope(StrEnum):
    """What an approved change of a strategy edits in a service config."""

    ROUTE = "route"                    # the task's route moves to another model (with the change's settings)
    ROUTE_SETTINGS = "route_settings"  # settings on the task's route (max_tokens, prompt_caching)
    MODEL_SETTINGS = "model_settings"  # how a deployment is called (timeout, retries, fallbacks)
    EXPERIMENTS = "experiments"        # the config's `experiments` list (an exploration split); routes untouched


@dataclass(frozen=True)
class EvaluationInputs:
    """What every strategy's `evaluate` sees: the window's valid rows and the routing calls on them."""

    settings: Settings
    prices: PriceMap
    window: Window
    valid: pd.DataFrame
    routing: Sequence[Any] = ()               # RoutingEvaluation per task: current model and provider
    latest: LatestConfigs = field(default_factory=dict)
    sample_hours: float | None = None         # hours of traffic `valid` stands for, when it is a pooled sample
    cells: pd.DataFrame | None = None         # pooled exact counts per (service, task_type, model), with `hours`

    @property
    def hours(self) -> float:
        """The hours of traffic in `valid`: per-day figures are (sum over valid) × 24 / hours."""
        return self.sample_hours or self.window.hours

    def requests_per_day(self, service: str, task_type: str, model: str) -> float | None:
        """A cell's requests per day from the pooled exact counts (None without them)."""
        if self.cells is None or self.cells.empty:
            return None
        c = self.cells
        row = c[(c["service"] == service) & (c["task_type"] == task_type) & (c["model"] == model)]
        return float(row["requests"].iloc[0]) * 24.0 / float(row["hours"].iloc[0]) if len(row) else None


@dataclass(frozen=True)
class DecisionInputs:
    """What every strategy's `decide` sees besides its own evaluations."""

    settings: Settings
    latest: LatestConfigs
    serving: dict[tuple[str, str], str]       # (service, task_type) → the model serving it now
    now: datetime
    routing: Sequence[Any] = ()               # this run's RoutingEvaluation per task
    data_time: datetime | None = None         # the window's end: when ramps and explorations begin, in data time

    @property
    def began(self) -> datetime:
        return self.data_time or self.now


@dataclass(frozen=True)
class StrategySpec:
    """One strategy's declaration.

    Attributes:
        precedence: lower decides first; a route that moves in a lower precedence blocks every later
            route or route-settings change of that task in the same run (equal precedences do not block).
        guardrails: the policy fields it reads (recorded with the run).
        columns: optional request-log columns it needs, read with the window when it is on.
        evaluate: the window → its evaluations (None: evaluated elsewhere, e.g. experiments).
        decide: its evaluations → changes, approved or pending as the policy says.
        monitored: the post-change monitor compares the task's quality before and after the change.
    """

    name: str
    scope: Scope
    precedence: int
    guardrails: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    evaluate: Callable[[EvaluationInputs], list] | None = None
    decide: Callable[[list, DecisionInputs], list[Change]] | None = None
    monitored: bool = False
    optional: bool = True                     # chosen in `strategies:`; False: always on when it has input


_REGISTRY: dict[str, StrategySpec] = {}
_LOADED = False
STRATEGY_PACKAGES = ("llmopt.evaluate", "llmopt.experiments")


def register(spec: StrategySpec) -> StrategySpec:
    """Declare a strategy (called at import of its module)."""
    _REGISTRY[spec.name] = spec
    return spec


def _load() -> None:
    global _LOADED
    if _LOADED:
        return
    for package in STRATEGY_PACKAGES:
        module = importlib.import_module(package)
        for info in pkgutil.iter_modules(module.__path__):
            importlib.import_module(f"{package}.{info.name}")
    _LOADED = True


def strategies() -> dict[str, StrategySpec]:
    """Every registered strategy by name."""
    _load()
    return dict(_REGISTRY)


def strategy(name: str) -> StrategySpec:
    """The spec of `name`.

    Raises:
        KeyError: no strategy has that name.
    """
    _load()
    found = _REGISTRY.get(str(name))
    if found is None:
        raise KeyError(f"strategy {name!r} is not registered (known: {sorted(_REGISTRY)})")
    return found


def optional_strategy_names() -> list[str]:
    """The names a user can list in `strategies:`."""
    return sorted(str(n) for n, s in strategies().items() if s.optional)


def combine(proposals: Sequence[tuple[StrategySpec, list[Change]]]) -> list[Change]:
    """Merge every strategy's changes under the precedence rules (see `StrategySpec.precedence`).

    Deployment-settings changes (`Scope.MODEL_SETTINGS`) never conflict with a route and always pass.
    Output order: by precedence, then the order of `proposals`.
    """
    out: list[Change] = []
    moving: set[tuple[str, str]] = set()
    ordered = sorted(proposals, key=lambda p: p[0].precedence)      # stable: ties keep their given order
    for _, group in groupby(ordered, key=lambda p: p[0].precedence):
        moved_now: set[tuple[str, str]] = set()
        for spec, changes in group:
            for change in changes:
                key = (change.service, change.task_type)
                if spec.scope != Scope.MODEL_SETTINGS and key in moving:
                    continue
                out.append(change)
                if spec.scope == Scope.ROUTE:
                    moved_now.add(key)
        moving |= moved_now
    return out


def apply_change(routes: dict[str, dict], model_settings: dict[str, dict], strategy_name: str, task_type: str,
                 target: dict, origin: dict | None = None) -> None:
    """Apply one approved change to a config's routes or model settings, in place (the one rule).

    A route change whose target carries `canary_weight` is a ramp step: the route keeps its model (`origin`'s
    when the config has no route yet) and gains `canary` = the target model at that share of the traffic.

    Args:
        target: model, provider and the change's settings (a change's `target`, a decision's `to_route`).
        origin: what the change moves from (a change's `origin`, a decision's `from_route`).
    """
    scope = strategy(strategy_name).scope
    model = {k: target[k] for k in ("model", "provider")}
    extra = {k: v for k, v in target.items() if k not in model}
    if scope == Scope.EXPERIMENTS:
        return
    if scope == Scope.ROUTE and "canary_weight" in extra:
        base = routes.get(task_type) or {k: (origin or {})[k] for k in ("model", "provider")}
        routes[task_type] = {**{k: v for k, v in base.items() if k != "canary"},
                             "canary": {**model, "weight": extra["canary_weight"],
                                        "started_at": extra["canary_started_at"]}}
    elif scope == Scope.MODEL_SETTINGS:
        model_settings[model["model"]] = {"provider": model["provider"], **extra}
    elif scope == Scope.ROUTE_SETTINGS:
        routes[task_type] = {**routes.get(task_type, model), **extra}
    else:
        routes[task_type] = dict(target)


# a rollback restores earlier routes: it is a lifecycle action, not an optimizer, but it edits routes
register(StrategySpec(Strategy.ROLLBACK, Scope.ROUTE, precedence=0, optional=False))
