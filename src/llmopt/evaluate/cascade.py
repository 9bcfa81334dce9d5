"""Cascade (FrugalGPT-style): the cheap model answers first; escalate to the current model when its
confidence is below a threshold.

Needs paired answers: rows of the same `prompt_id` from the current (production) model and from a cheaper
model (shadow traffic or offline evaluations, `variant: shadow`) that carry a `confidence` signal and a
`quality_score`. The pairs are split in two halves at random: the threshold τ is chosen on one (the lowest τ
whose paired quality difference cascade − current has its lower confidence bound ≥ −quality_margin), and
quality, cost and latency are measured on the other, so the choice does not grade itself.
Per request: cost = cheap + (escalated ? current : 0); latency = cheap + (escalated ? current : 0).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from llmopt.decide.policy import policy_decision
from llmopt.domain import Change, Strategy
from llmopt.evaluate.registry import DecisionInputs, EvaluationInputs, Scope, StrategySpec, register
from llmopt.prices import PriceMap
from llmopt.settings import Policy
from llmopt.stats import MeanStats, mean_interval

SPLIT_SEED = 0


@dataclass(frozen=True)
class CascadeEvaluation:
    service: str
    task_type: str
    current_model: str
    current_provider: str
    cheap_model: str
    cheap_provider: str
    pairs: int
    threshold: float | None
    escalation_rate: float
    quality_difference: tuple[float, float, float]    # estimate, low, high on the held-out half
    latency_p95_ms: float
    current_latency_p95_ms: float
    expected_savings_usd_per_day: float
    recommended: bool
    verdict: str

    def to_dict(self) -> dict:
        return asdict(self)


def paired(frame: pd.DataFrame, current: str) -> dict[str, pd.DataFrame]:
    """cheap model → one row per prompt with both answers (columns suffixed _cur and _cheap)."""
    base = frame[(frame["model"] == current) & frame["quality_score"].notna()]
    out = {}
    for model, rows in frame[(frame["model"] != current) & frame["confidence"].notna()
                             & frame["quality_score"].notna()].groupby("model"):
        both = base.merge(rows, on="prompt_id", suffixes=("_cur", "_cheap"))
        if len(both):
            out[model] = both
    return out


def outcome(pairs: pd.DataFrame, tau: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per pair: quality difference (cascade − current), cost, latency and whether it escalated."""
    escalate = pairs["confidence_cheap"].to_numpy() < tau
    q = np.where(escalate, pairs["quality_score_cur"], pairs["quality_score_cheap"])
    cost = pairs["cost_cheap"].to_numpy() + np.where(escalate, pairs["cost_cur"], 0.0)
    latency = pairs["latency_ms_cheap"].to_numpy() + np.where(escalate, pairs["latency_ms_cur"], 0.0)
    return q - pairs["quality_score_cur"].to_numpy(), cost, latency, escalate


def diff_interval(d: np.ndarray, confidence: float):
    return mean_interval(MeanStats.of(d), confidence)


def evaluate_cascades(frame: pd.DataFrame, current_models: dict[tuple[str, str], tuple[str, str]], policy: Policy,
                      prices: PriceMap, window_hours: float) -> list[CascadeEvaluation]:
    """One evaluation per (service, task_type, cheaper model) with paired, scored answers."""
    frame = frame.assign(cost=prices.fill_cost(frame))
    out = []
    for (service, task), rows in frame.groupby(["service", "task_type"], sort=True):
        if (service, task) not in current_models:
            continue
        current, provider = current_models[(service, task)]
        rules = policy.for_service(service)
        production = int((rows["variant"].fillna("") != "shadow").sum())
        for cheap, pairs in sorted(paired(rows, current).items()):
            cheap_provider = str(rows.loc[rows["model"] == cheap, "provider"].iloc[0])
            out.append(_evaluate_pair(service, task, current, provider, cheap, cheap_provider, pairs, rules,
                                      production * 24.0 / window_hours))
    return out


def _evaluate_pair(service, task, current, provider, cheap, cheap_provider, pairs, rules, per_day):
    rng = np.random.default_rng(SPLIT_SEED)
    choose = rng.random(len(pairs)) < 0.5
    tune, test = pairs[choose], pairs[~choose]
    nan3 = (math.nan,) * 3
    if min(len(tune), len(test)) < rules.min_samples:
        return CascadeEvaluation(service, task, current, provider, cheap, cheap_provider, len(pairs), None, 1.0, nan3,
                                 math.nan, math.nan, 0.0, False,
                                 f"keep: {len(pairs)} paired answers; each half needs ≥ min_samples {rules.min_samples}")
    tau = None
    for candidate in np.unique(np.quantile(tune["confidence_cheap"], np.linspace(0, 1, 41))):
        ci = diff_interval(outcome(tune, candidate)[0], rules.confidence)
        if ci.low >= -rules.quality_margin:
            tau = float(candidate)
            break
    if tau is None:
        return CascadeEvaluation(service, task, current, provider, cheap, cheap_provider, len(pairs), None, 1.0, nan3,
                                 math.nan, math.nan, 0.0, False, "keep: no threshold keeps quality within the margin")
    d, cost, latency, escalate = outcome(test, tau)
    ci = diff_interval(d, rules.confidence)
    savings = (float(test["cost_cur"].mean()) - float(cost.mean())) * per_day
    p95, current_p95 = float(np.quantile(latency, 0.95)), float(np.quantile(test["latency_ms_cur"], 0.95))
    blockers = []
    if ci.low < -rules.quality_margin:
        blockers.append(f"held-out quality difference low {ci.low:+.4f} < -{rules.quality_margin}")
    if rules.latency_p95_ms is not None and p95 > rules.latency_p95_ms:
        blockers.append(f"cascade p95 {p95:.0f} ms > latency_p95_ms {rules.latency_p95_ms:g}")
    if savings <= 0 or savings < rules.min_savings_usd_per_day:
        blockers.append(f"saves ${savings:.2f}/day")
    verdict = ("; ".join(blockers) and "keep: " + "; ".join(blockers)) or (
        f"cascade {cheap} → {current} below confidence {tau:.3g}: escalates {escalate.mean():.0%}, "
        f"saves ${savings:.2f}/day")
    return CascadeEvaluation(service, task, current, provider, cheap, cheap_provider, len(pairs), tau,
                             float(escalate.mean()), (ci.estimate, ci.low, ci.high), p95, current_p95, savings,
                             not blockers, verdict)


def decide_cascades(evaluations: list[CascadeEvaluation], policy: Policy, now) -> list[Change]:
    """The cheapest recommended cascade per task, as a route change (cheap model first, escalation target)."""
    best: dict[tuple[str, str], CascadeEvaluation] = {}
    for ev in evaluations:
        key = (ev.service, ev.task_type)
        if ev.recommended and (key not in best or ev.expected_savings_usd_per_day > best[key].expected_savings_usd_per_day):
            best[key] = ev
    changes = []
    for ev in best.values():
        changes.append(Change(
            service=ev.service, task_type=ev.task_type, strategy=Strategy.CASCADE, from_model=ev.current_model,
            from_provider=ev.current_provider, to_model=ev.cheap_model, to_provider=ev.cheap_provider,
            expected_savings_usd_per_day=ev.expected_savings_usd_per_day, evidence=ev.to_dict(),
            **policy_decision(policy, ev.service, now),
            to_settings={"cascade": {"escalate_to": {"model": ev.current_model, "provider": ev.current_provider},
                                     "min_confidence": round(ev.threshold, 6)}}))
    return changes


def _evaluate(inputs: EvaluationInputs) -> list[CascadeEvaluation]:
    valid = inputs.valid
    if not {"prompt_id", "confidence"} <= set(valid.columns):
        return []
    frame = valid[valid["prompt_id"].notna() & (valid["status"] == "ok")]
    current = {(ev.service, ev.task_type): (ev.current_model, ev.current.provider) for ev in inputs.routing}
    return evaluate_cascades(frame, current, inputs.settings.policy, inputs.prices, inputs.hours)


# a full switch, when safe, beats a cascade: routing and experiments decide first
STRATEGY = register(StrategySpec(
    Strategy.CASCADE, Scope.ROUTE, precedence=10, monitored=True,
    guardrails=("quality_margin", "min_samples", "latency_p95_ms", "min_savings_usd_per_day", "confidence"),
    columns=("prompt_id", "confidence"), evaluate=_evaluate,
    decide=lambda evs, d: decide_cascades(evs, d.settings.policy, d.now)))
