"""max_tokens per (service, task_type, model): the lowest limit that keeps truncation under a target.

limit = the (1 − truncation_target) quantile of successful completions × 1.1, rounded up to 64 tokens,
from at least `min_samples` successful requests; proposed only below the current limit (or where none is
set). Expected truncation = the share of observed completions above the limit plus those already cut at
`finish_reason: length` (Wilson interval). Savings count only for providers in `reserved_output_providers`
(they bill or reserve max_tokens of output): (current − new limit) × output price × requests per day.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from llmopt.decide.policy import policy_decision
from llmopt.domain import Change, Strategy
from llmopt.publish.config_model import LatestConfigs, route_of
from llmopt.evaluate.registry import DecisionInputs, EvaluationInputs, Scope, StrategySpec, register
from llmopt.prices import PriceMap
from llmopt.settings import Policy
from llmopt.stats import Interval, ProportionStats, wilson_interval

HEADROOM, ROUND_TOKENS = 1.1, 64


@dataclass(frozen=True)
class MaxTokensEvaluation:
    service: str
    task_type: str
    model: str
    provider: str
    ok_requests: int
    current_max_tokens: int | None
    completion_p50: float
    completion_p99: float
    length_truncated_share: float
    proposed_max_tokens: int | None
    expected_truncation: Interval | None
    expected_savings_usd_per_day: float
    verdict: str

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate_max_tokens(valid: pd.DataFrame, policy: Policy, prices: PriceMap, window_hours: float,
                        reserved_output_providers: list[str],
                        requests_per_day: Callable[[str, str, str], float | None] | None = None
                        ) -> list[MaxTokensEvaluation]:
    """One evaluation per (service, task_type, model) with traffic in the window.

    `requests_per_day`: a cell's exact daily volume (pooled counts); default len(rows) × 24 / window_hours.
    """
    out = []
    for (service, task, model), rows in valid.groupby(["service", "task_type", "model"], sort=True):
        rules = policy.for_service(service)
        ok = rows[rows["status"] == "ok"]
        completions = ok["completion_tokens"].to_numpy(dtype=float)
        cut = int(ok["finish_reason"].eq("length").sum())
        current = rows["max_tokens"].dropna()
        current = int(current.mode().iloc[0]) if len(current) else None
        provider = str(rows["provider"].iloc[0])
        p50, p99 = (float(np.quantile(completions, q)) for q in (0.5, 0.99)) if len(completions) else (math.nan,) * 2
        base = dict(service=service, task_type=task, model=model, provider=provider, ok_requests=len(ok),
                    current_max_tokens=current, completion_p50=p50, completion_p99=p99,
                    length_truncated_share=cut / max(len(ok), 1))
        if len(ok) < rules.min_samples:
            out.append(MaxTokensEvaluation(**base, proposed_max_tokens=None, expected_truncation=None,
                                           expected_savings_usd_per_day=0.0,
                                           verdict=f"keep: {len(ok)} successful requests < min_samples"))
            continue
        limit = int(math.ceil(np.quantile(completions, 1 - rules.truncation_target) * HEADROOM / ROUND_TOKENS)
                    * ROUND_TOKENS)
        truncation = wilson_interval(ProportionStats(len(ok), int((completions > limit).sum()) + cut), rules.confidence)
        if current is not None and limit >= current:
            verdict, limit = f"keep max_tokens {current}: completions need it", None
        elif truncation.estimate > rules.truncation_target:
            verdict, limit = f"keep: {truncation.estimate:.2%} already cut at length", None
        else:
            verdict = f"max_tokens {current or 'unset'} → {limit} (expected truncation {truncation.estimate:.2%})"
        price = prices.get(model)
        savings = 0.0
        if limit is not None and current is not None and provider in reserved_output_providers and price:
            per_day = requests_per_day(service, task, model) if requests_per_day else None
            per_day = len(rows) * 24.0 / window_hours if per_day is None else per_day
            savings = (current - limit) * price.output_usd_per_token * per_day
        out.append(MaxTokensEvaluation(**base, proposed_max_tokens=limit, expected_truncation=truncation,
                                       expected_savings_usd_per_day=savings, verdict=verdict))
    return out


def decide_max_tokens(evaluations: list[MaxTokensEvaluation], latest: LatestConfigs, policy: Policy,
                      now) -> list[Change]:
    """A change where the task's published route is this model and its max_tokens would move."""
    changes = []
    for ev in evaluations:
        found = route_of(latest, ev.service, ev.task_type)
        route = found.model_dump() if found else None
        if ev.proposed_max_tokens is None or (route and route["model"] != ev.model):
            continue
        if route and route.get("max_tokens") == ev.proposed_max_tokens:
            continue
        changes.append(Change(
            service=ev.service, task_type=ev.task_type, strategy=Strategy.MAX_TOKENS, from_model=ev.model,
            from_provider=ev.provider, to_model=ev.model, to_provider=ev.provider,
            expected_savings_usd_per_day=ev.expected_savings_usd_per_day, evidence=ev.to_dict(),
            **policy_decision(policy, ev.service, now),
            from_settings={"max_tokens": (route or {}).get("max_tokens", ev.current_max_tokens)},
            to_settings={"max_tokens": ev.proposed_max_tokens}))
    return changes


def _decide(evaluations: list[MaxTokensEvaluation], inputs: DecisionInputs) -> list[Change]:
    # a limit belongs to the model that serves the task now
    return [c for c in decide_max_tokens(evaluations, inputs.latest, inputs.settings.policy, inputs.now)
            if inputs.serving.get((c.service, c.task_type)) == c.to_model]


STRATEGY = register(StrategySpec(
    Strategy.MAX_TOKENS, Scope.ROUTE_SETTINGS, precedence=30,
    guardrails=("truncation_target", "min_samples", "min_savings_usd_per_day"), columns=("finish_reason", "max_tokens"),
    evaluate=lambda i: evaluate_max_tokens(i.valid, i.settings.policy, i.prices, i.hours,
                                           i.settings.reserved_output_providers, i.requests_per_day),
    decide=_decide))
