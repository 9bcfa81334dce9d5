"""The routing strategy: per (service, task_type), move traffic to a cheaper model that is good enough."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime

import numpy as np
import pandas as pd

from llmopt.domain import Change, Strategy
from llmopt.evaluate.registry import Scope, StrategySpec, register
from llmopt.fit import FittedModels
from llmopt.lazy_modules import scipy_optimize as optimize, scipy_stats as sps
from llmopt.prices import PriceMap
from llmopt.settings import Guardrails, Policy
from llmopt.stats import Interval, MeanStats, ProportionStats, mean_interval, welch_difference_interval, \
    wilson_interval

TOKEN_MIX_ROWS = 2_000
Z95 = 1.6448536269514722        # scipy.stats.norm.ppf(0.95), written out so importing this module needs no scipy


@dataclass(frozen=True)
class ModelEvidence:
    """What the window says about one model on one (service, task_type)."""

    model: str
    provider: str
    requests: int
    scored_requests: int
    quality: Interval
    error_rate: Interval
    predicted_cost_usd_per_request: float
    predicted_cost_usd_per_day: float
    predicted_latency_p50_ms: float
    predicted_latency_p95_ms: float
    quality_difference: Interval | None = None      # this model − current model
    expected_savings_usd_per_day: float = 0.0
    eligible: bool = False
    blocked_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoutingEvaluation:
    """The routing call for one (service, task_type), with the evidence for every model seen."""

    service: str
    task_type: str
    current_model: str
    current_source: str                 # "published config" or "window traffic"
    task_requests: int
    window_hours: float
    current: ModelEvidence
    candidates: tuple[ModelEvidence, ...] = field(default_factory=tuple)
    recommended: ModelEvidence | None = None
    verdict: str = ""
    pooled: str = ""                    # the hours and rows the evidence pooled, and any drift met

    def to_dict(self) -> dict:
        return asdict(self)


def mixture_quantile(p50: np.ndarray, p95: np.ndarray, q: float = 0.95) -> float:
    """Quantile `q` of the traffic's latency, each request lognormal with its own p50 and p95.

    σᵢ = ln(p95ᵢ/p50ᵢ)/z₀.₉₅; solves mean Φ((ln L − ln p50ᵢ)/σᵢ) = q for L.
    """
    ok = np.isfinite(p50) & np.isfinite(p95) & (p50 > 0)
    if not ok.any():
        return float("nan")
    mu = np.log(p50[ok])
    sigma = np.maximum(np.log(np.maximum(p95[ok], p50[ok]) / p50[ok]) / Z95, 1e-3)
    f = lambda log_l: float(np.mean(sps.norm.cdf((log_l - mu) / sigma))) - q  # noqa: E731
    lo, hi = mu.min() - 1.0, (mu + 4 * sigma).max()
    return float(math.exp(optimize.brentq(f, lo, hi, xtol=1e-6)))


def _model_evidence(cell: pd.Series, mix: pd.DataFrame, task_requests: int, window_hours: float,
                    models: FittedModels, prices: PriceMap, confidence: float) -> ModelEvidence:
    model = cell["model"]
    probe = mix.assign(model=model)
    completion = models.completion_tokens.predict(probe)
    cost = prices.request_cost_usd(model, probe["prompt_tokens"], completion, probe["cached_tokens"])
    probe = probe.assign(completion_tokens=completion)
    p50, p95 = models.latency_p50.predict(probe), models.latency_p95.predict(probe)
    cost_per_request = float(np.mean(cost)) if len(mix) else float("nan")
    quality = MeanStats(int(cell["scored"]), float(cell["quality_sum"]), float(cell["quality_sum_squares"]))
    return ModelEvidence(
        model=model, provider=str(cell["provider"]), requests=int(cell["requests"]),
        scored_requests=quality.n, quality=mean_interval(quality, confidence),
        error_rate=wilson_interval(ProportionStats(int(cell["requests"]), int(cell["errors"])), confidence),
        predicted_cost_usd_per_request=cost_per_request,
        # The whole task's traffic, as if this model served it, scaled from the window to a day.
        predicted_cost_usd_per_day=cost_per_request * task_requests * 24.0 / window_hours,
        predicted_latency_p50_ms=float(np.nanmedian(p50)) if np.isfinite(p50).any() else float("nan"),
        predicted_latency_p95_ms=mixture_quantile(p50, p95))


def _blockers(cand: ModelEvidence, current: ModelEvidence, diff: Interval, rules: Guardrails) -> list[str]:
    """Every guardrail the candidate breaks, in words a reviewer can check."""
    out = []
    if cand.scored_requests < rules.min_samples or current.scored_requests < rules.min_samples:
        out.append(f"min_samples: scored requests {cand.scored_requests} (candidate) / "
                   f"{current.scored_requests} (current) < {rules.min_samples}")
    elif not diff.low >= -rules.quality_margin:
        out.append(f"quality_margin: lower bound of quality difference {diff.low:+.4f} < "
                   f"-{rules.quality_margin}")
    if not cand.error_rate.high <= rules.max_error_rate:
        out.append(f"max_error_rate: upper bound of error rate {cand.error_rate.high:.4f} > "
                   f"{rules.max_error_rate}")
    if rules.latency_p95_ms is not None and not cand.predicted_latency_p95_ms <= rules.latency_p95_ms:
        out.append(f"latency_p95_ms: predicted p95 {cand.predicted_latency_p95_ms:.0f} ms > "
                   f"{rules.latency_p95_ms:.0f} ms")
    if rules.allowed_models is not None and cand.model not in rules.allowed_models:
        out.append("allowed_models: not in the allowed list")
    if not math.isfinite(cand.predicted_cost_usd_per_request):
        out.append("cost: no price or no completion-length model for this model")
    return out


def evaluate_task(service: str, task_type: str, cells: pd.DataFrame, traffic: pd.DataFrame,
                  current_model: str | None, window_hours: float, models: FittedModels,
                  prices: PriceMap, rules: Guardrails, seed: int = 0) -> RoutingEvaluation:
    """Evaluate routing for one (service, task_type).

    Args:
        cells: this task's rows of `models.cells` (one per model).
        traffic: this task's valid requests in the window (the token mix).
        current_model: the model in the latest published config, or None to take the
            model that served most of the window's traffic.
    """
    if "hours" in cells:               # pooled evidence: the hours this task's cells cover
        window_hours = float(cells["hours"].max())
    source = "published config"
    if current_model is None or current_model not in set(cells["model"]):
        source = "window traffic"
        if current_model is not None:
            source = f"window traffic (configured {current_model} has no traffic in the window)"
        # shadow/evaluation rows do not make a model "current": production traffic does
        current_model = str(cells.sort_values(["production_requests", "requests", "model"],
                                              ascending=[False, False, True]).iloc[0]["model"])
    mix = traffic[["task_type", "prompt_tokens", "cached_tokens"]]
    mix = mix.sample(n=min(len(mix), TOKEN_MIX_ROWS), random_state=seed) if len(mix) else mix
    production = int(cells["production_requests"].sum())    # the traffic a route change would move
    evidence = {row["model"]: _model_evidence(row, mix, production, window_hours, models, prices,
                                              rules.confidence) for _, row in cells.iterrows()}
    current = evidence[current_model]
    current_q = quality_stats(cells, current_model)
    candidates = []
    for model, ev in sorted(evidence.items()):
        if model == current_model:
            continue
        diff = welch_difference_interval(current_q, quality_stats(cells, model), rules.confidence)
        blocked = _blockers(ev, current, diff, rules)
        savings = current.predicted_cost_usd_per_day - ev.predicted_cost_usd_per_day
        candidates.append(replace(ev, quality_difference=diff,
                                  expected_savings_usd_per_day=savings if math.isfinite(savings) else 0.0,
                                  eligible=not blocked, blocked_by=tuple(blocked)))
    eligible = [c for c in candidates if c.eligible]
    best = min(eligible, key=lambda c: c.predicted_cost_usd_per_request, default=None)
    recommended, verdict = None, "keep: no candidate passes every guardrail"
    if not candidates:
        verdict = f"keep: no candidates: no other model has traffic on this task ({current_model} served all of it)"
    if best is not None:
        if best.expected_savings_usd_per_day <= 0:
            verdict = "keep: no eligible candidate is cheaper"
        elif best.expected_savings_usd_per_day < rules.min_savings_usd_per_day:
            verdict = (f"keep: best saving ${best.expected_savings_usd_per_day:.2f}/day < "
                       f"min_savings_usd_per_day ${rules.min_savings_usd_per_day:.2f}")
        else:
            recommended = best
            verdict = (f"switch {current_model} → {best.model}: saves "
                       f"${best.expected_savings_usd_per_day:.2f}/day")
    return RoutingEvaluation(service, task_type, current_model, source, production, window_hours,
                             current, tuple(candidates), recommended, verdict)


def quality_stats(cells: pd.DataFrame, model: str) -> MeanStats:
    """The pooled quality sums of `model` in one task's cells."""
    row = cells.loc[cells["model"] == model].iloc[0]
    return MeanStats(int(row["scored"]), float(row["quality_sum"]), float(row["quality_sum_squares"]))


def evaluate_routing(valid: pd.DataFrame, models: FittedModels, prices: PriceMap, policy: Policy,
                     current_routes: dict[tuple[str, str], str], window_hours: float) -> list[RoutingEvaluation]:
    """Evaluate routing for every (service, task_type) with traffic in the window."""
    results = []
    traffic_by_task = valid.groupby(["service", "task_type"], sort=True).indices
    for (service, task_type), cells in models.cells.groupby(["service", "task_type"], sort=True):
        traffic = valid.iloc[traffic_by_task.get((service, task_type), [])]
        results.append(evaluate_task(service, task_type, cells, traffic,
                                     current_routes.get((service, task_type)), window_hours, models,
                                     prices, policy.for_service(service)))
    return results


def decide_routing(evaluations: list[RoutingEvaluation], policy: Policy, now: datetime) -> list[Change]:
    """One change per recommendation: approved under `approval: auto`, pending under `manual`.

    A change on a task that carries more than `auto_approve_max_traffic_share` of its service's
    traffic is pending even under `auto`: a person confirms the large ones.

    Every recommendation already passed every guardrail in the evaluate step; the approval
    mode only says whether a person must confirm it.
    """
    changes = []
    service_requests: dict[str, int] = {}
    for ev in evaluations:
        service_requests[ev.service] = service_requests.get(ev.service, 0) + ev.task_requests
    for ev in evaluations:
        rec = ev.recommended
        if rec is None:
            continue
        rules = policy.for_service(ev.service)
        share = ev.task_requests / max(service_requests[ev.service], 1)
        auto = rules.approval == "auto" and share <= rules.auto_approve_max_traffic_share
        why = ("awaiting manual approval" if rules.approval == "manual" else
               f"awaiting manual approval: {share:.0%} of the service's traffic is above the auto-approve "
               f"limit {rules.auto_approve_max_traffic_share:.0%}")
        changes.append(Change(
            service=ev.service, task_type=ev.task_type, strategy=Strategy.ROUTING,
            from_model=ev.current_model, from_provider=ev.current.provider,
            to_model=rec.model, to_provider=rec.provider,
            expected_savings_usd_per_day=rec.expected_savings_usd_per_day,
            evidence={"current": asdict(ev.current), "recommended": asdict(rec),
                      "guardrails": rules.model_dump(), "task_requests": ev.task_requests,
                      "window_hours": ev.window_hours, "pooled": ev.pooled},
            state="approved" if auto else "pending",
            decided_by="policy:auto" if auto else why,
            decided_at=now.isoformat()))
    return changes


# routing is evaluated by the pipeline's own step (its evaluations give every task's current route);
# experiments share its precedence: a running experiment holds the task's routing
STRATEGY = register(StrategySpec(
    Strategy.ROUTING, Scope.ROUTE, precedence=0, monitored=True,
    guardrails=("quality_margin", "max_error_rate", "latency_p95_ms", "min_samples", "min_savings_usd_per_day",
                "allowed_models", "auto_approve_max_traffic_share", "confidence", "approval"),
    decide=lambda evs, d: decide_routing(evs, d.settings.policy, d.now)))
