"""Timeouts, retries and fallbacks per (provider, model), from the window's latencies and failures.

- timeout: the (1 − timeout_cutoff_share) quantile of successful latencies × 1.2 headroom, rounded up to
  0.5 s, from at least `reliability_min_requests` successful requests (fewer give "no change yet"); the
  share of successful requests it would have cut off is reported with its Wilson interval.
- retries: the fewest n ≤ 3 with p⁺ⁿ⁺¹ ≤ max_error_rate, p⁺ the upper bound of the failure rate
  (independent failures assumed); none when p⁺ ≥ 0.5 — retrying a mostly failing provider only adds load.
- fallbacks: when the failure rate is significantly above max_error_rate (lower bound > it), up to two
  other deployments serving the same task types whose failure upper bound is ≤ max_error_rate,
  fastest p95 first; with quality scores on both sides a fallback must also pass the quality margin.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from llmopt.publish.config_model import LatestConfigs
from llmopt.decide.policy import policy_decision
from llmopt.domain import Change, Strategy
from llmopt.evaluate.registry import DecisionInputs, EvaluationInputs, Scope, StrategySpec, register
from llmopt.settings import Guardrails, Policy
from llmopt.stats import Interval, MeanStats, ProportionStats, welch_difference_interval, wilson_interval

HEADROOM, ROUND_MS, MAX_RETRIES = 1.2, 500.0, 3


@dataclass(frozen=True)
class ReliabilityEvaluation:
    """Recommended timeout, retries and fallbacks for one deployment, with the evidence."""

    service: str
    provider: str
    model: str
    task_types: tuple[str, ...]
    requests: int
    ok_requests: int
    failure_rate: Interval
    rate_limited_share: float             # finish_reason error_429
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    timeout_ms: float | None
    cut_off_share: Interval | None
    retries: int
    fallbacks: tuple[dict, ...] = field(default_factory=tuple)
    verdict: str = ""

    def settings(self) -> dict:
        """What a gateway applies: timeout_s, retries, fallbacks (model, provider)."""
        return {"timeout_s": None if self.timeout_ms is None else round(self.timeout_ms / 1000.0, 1),
                "retries": self.retries, "fallbacks": [dict(f) for f in self.fallbacks]}

    def to_dict(self) -> dict:
        return asdict(self)


def deployment_stats(valid: pd.DataFrame) -> pd.DataFrame:
    """Per (service, provider, model): counts, failures, 429s, quality sums and latency quantiles of ok rows."""
    ok = valid["status"] == "ok"
    frame = valid.assign(ok=ok, failed=~ok, limited=valid["finish_reason"].eq("error_429").fillna(False),
                         q=valid["quality_score"].where(ok), q2=valid["quality_score"].where(ok) ** 2,
                         ok_latency=valid["latency_ms"].where(ok))
    keys = ["service", "provider", "model"]
    out = frame.groupby(keys, sort=True).agg(
        requests=("ok", "size"), ok_requests=("ok", "sum"), failed=("failed", "sum"), limited=("limited", "sum"),
        scored=("q", "count"), quality_sum=("q", "sum"), quality_sum_squares=("q2", "sum"),
        p50=("ok_latency", lambda s: s.quantile(0.50)), p95=("ok_latency", lambda s: s.quantile(0.95)),
        p99=("ok_latency", lambda s: s.quantile(0.99)))
    tasks = frame.groupby(keys, sort=True)["task_type"].agg(lambda s: tuple(sorted(set(s))))
    return out.join(tasks.rename("task_types")).reset_index()


def recommended_timeout(latencies: np.ndarray, rules: Guardrails) -> tuple[float | None, Interval | None]:
    """(timeout_ms, share of these successful requests it cuts off), or (None, None) with too few of them."""
    if len(latencies) < rules.reliability_min_requests:
        return None, None
    q = float(np.quantile(latencies, 1 - rules.timeout_cutoff_share))
    timeout = math.ceil(q * HEADROOM / ROUND_MS) * ROUND_MS
    cut = wilson_interval(ProportionStats(len(latencies), int((latencies > timeout).sum())), rules.confidence)
    return (timeout, cut) if cut.estimate <= rules.timeout_cutoff_share else (None, cut)


def retries_for(failure_upper: float, rules: Guardrails) -> int:
    """Fewest retries n with p⁺ⁿ⁺¹ ≤ max_error_rate (0 when already under it or when p⁺ ≥ 0.5)."""
    if failure_upper <= rules.max_error_rate or failure_upper >= 0.5:
        return 0
    return next((n for n in range(1, MAX_RETRIES + 1) if failure_upper ** (n + 1) <= rules.max_error_rate),
                MAX_RETRIES)


def evaluate_reliability(valid: pd.DataFrame, policy: Policy) -> list[ReliabilityEvaluation]:
    """One evaluation per (service, provider, model) deployment seen in the window."""
    stats = deployment_stats(valid)
    ok_latency = valid.loc[valid["status"] == "ok"].groupby(["service", "provider", "model"])["latency_ms"]
    latencies = {k: g.to_numpy(dtype=float) for k, g in ok_latency}
    out = []
    for _, row in stats.iterrows():
        rules = policy.for_service(row["service"])
        failure = wilson_interval(ProportionStats(int(row["requests"]), int(row["failed"])), rules.confidence)
        timeout, cut = recommended_timeout(latencies.get((row["service"], row["provider"], row["model"]),
                                                         np.array([])), rules)
        fallbacks = _fallbacks(row, stats, failure, rules) if failure.low > rules.max_error_rate else ()
        verdict = (f"failure rate {failure.estimate:.1%} [{failure.low:.1%}, {failure.high:.1%}] > "
                   f"max_error_rate {rules.max_error_rate:.0%}: " +
                   (f"fall back to {', '.join(f['provider'] + '/' + f['model'] for f in fallbacks)}"
                    if fallbacks else "no deployment qualifies as a fallback")
                   if failure.low > rules.max_error_rate else
                   "timeout " + (f"{timeout / 1000:.1f} s" if timeout else "unchanged (too few requests)"))
        out.append(ReliabilityEvaluation(
            row["service"], row["provider"], row["model"], row["task_types"], int(row["requests"]),
            int(row["ok_requests"]), failure, float(row["limited"]) / max(int(row["requests"]), 1),
            float(row["p50"]), float(row["p95"]), float(row["p99"]), timeout, cut,
            retries_for(failure.high, rules), tuple(fallbacks), verdict))
    return out


def _fallbacks(row: pd.Series, stats: pd.DataFrame, failure: Interval, rules: Guardrails) -> list[dict]:
    same = stats[(stats["service"] == row["service"]) & ~((stats["provider"] == row["provider"])
                                                          & (stats["model"] == row["model"]))]
    picks = []
    for _, cand in same.sort_values("p95").iterrows():
        if not set(row["task_types"]) <= set(cand["task_types"]):
            continue
        cand_failure = wilson_interval(ProportionStats(int(cand["requests"]), int(cand["failed"])), rules.confidence)
        if cand_failure.high > rules.max_error_rate:
            continue
        if min(row["scored"], cand["scored"]) >= rules.min_samples:
            diff = welch_difference_interval(MeanStats(int(row["scored"]), row["quality_sum"], row["quality_sum_squares"]),
                                             MeanStats(int(cand["scored"]), cand["quality_sum"],
                                                       cand["quality_sum_squares"]), rules.confidence)
            if not diff.low >= -rules.quality_margin:
                continue
        picks.append({"model": cand["model"], "provider": cand["provider"]})
        if len(picks) == 2:
            break
    return picks


def settings_change(current: dict | None, new: dict) -> dict | None:
    """The settings to publish, or None when they do not differ materially from the current ones.

    Material: other fallbacks, other retries, or a timeout more than 20% away (or none before).
    A timeout the window cannot support (too few requests) keeps the current one.
    """
    current = current or {"timeout_s": None, "retries": 0, "fallbacks": []}
    merged = {**new, "timeout_s": new["timeout_s"] if new["timeout_s"] is not None else current.get("timeout_s")}
    old_t, new_t = current.get("timeout_s"), merged["timeout_s"]
    timeout_moved = (old_t is None) != (new_t is None) or (
        old_t is not None and new_t is not None and abs(new_t - old_t) > 0.2 * old_t)
    if timeout_moved or merged["retries"] != current.get("retries", 0) or \
            merged["fallbacks"] != current.get("fallbacks", []):
        return merged
    return None


def decide_reliability(evaluations: list[ReliabilityEvaluation], latest: LatestConfigs, policy: Policy,
                       now) -> list[Change]:
    """A change per deployment whose settings move materially, approved or pending as the policy says."""
    changes = []
    for ev in evaluations:
        config = latest.get(ev.service)
        found = config.model_settings.get(ev.model) if config else None
        current = found.model_dump(exclude={"provider"}) if found else None
        new = settings_change(current, ev.settings())
        if new is None:
            continue
        changes.append(Change(
            service=ev.service, task_type="*", strategy=Strategy.RELIABILITY, from_model=ev.model,
            from_provider=ev.provider, to_model=ev.model, to_provider=ev.provider,
            expected_savings_usd_per_day=0.0, evidence=ev.to_dict(), **policy_decision(policy, ev.service, now),
            from_settings=current or {"timeout_s": None, "retries": 0, "fallbacks": []}, to_settings=new))
    return changes


STRATEGY = register(StrategySpec(
    Strategy.RELIABILITY, Scope.MODEL_SETTINGS, precedence=20,
    guardrails=("timeout_cutoff_share", "reliability_min_requests", "max_error_rate", "quality_margin", "confidence"),
    evaluate=lambda i: evaluate_reliability(i.valid, i.settings.policy),
    decide=lambda evs, d: decide_reliability(evs, d.latest, d.settings.policy, d.now)))
