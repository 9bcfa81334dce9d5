"""How much traffic exploration risks, and on which candidate: Thompson sampling under two safety bounds.

Per candidate i, the posterior of its quality gap to the serving model, dᵢ = qᵢ − q_serving, is normal: a prior
N(0, PRIOR_SD²) updated with the pooled difference (mean d̂, variance s²_c/n_c + s²_s/n_s). Thompson sampling draws
every dᵢ; a draw's value is the candidate's savings when dᵢ ≥ −quality_margin (good enough), else 0; πᵢ is the
share of draws in which candidate i has the largest positive value. Candidate i gets wᵢ = W·(πᵢ + ε)/Σ(π + ε)
(ε = FLOOR/k keeps every live candidate learning until the sequential test drops it).

The total W is
- sized by power: the scored requests each candidate still needs before its always-valid interval (at the run's
  confidence) is narrower than the margin, spread over TARGET_HOURS at the task's current scored traffic;
- bounded: W ≤ exploration_max_share − Z_CAP·√(m(1 − m)/n) with m = exploration_max_share and n the task's
  requests per hour (the safety bound: the gateway's split is random per request, so with this headroom the
  share an hour actually sends away from the serving model exceeds m with probability below 10⁻⁴), and W · Σ ŵᵢ·E[max(0, −dᵢ)] ≤ exploration_quality_loss_budget (expected quality lost per request).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from llmopt.stats import MeanStats
from llmopt.stats.sequential import DEFAULT_TUNING_SAMPLES, sequence_halfwidth

PRIOR_SD = 0.1            # a cheaper model's quality gap is rarely beyond ±0.2 (two prior sd)
DRAWS = 4000
FLOOR = 0.1
TARGET_HOURS = 6.0        # aim to decide within this many hours
Z_CAP = 3.72              # one-sided normal quantile of 1 − 10⁻⁴
MIN_SHARE_OF_CAP = 0.25   # while undecided, never below a quarter of the cap (power already met, effect at the margin)


@dataclass(frozen=True)
class Arm:
    """A live candidate: its savings if it served the task, and its pooled quality so far."""

    model: str
    savings_usd_per_day: float
    quality: MeanStats


def posterior(arm: Arm, serving: MeanStats) -> tuple[float, float]:
    """Mean and variance of the quality gap's normal posterior (prior N(0, PRIOR_SD²))."""
    prior_precision = 1 / PRIOR_SD ** 2
    if arm.quality.n < 2 or serving.n < 2:
        return 0.0, PRIOR_SD ** 2
    v = arm.quality.variance / arm.quality.n + serving.variance / serving.n
    gap = arm.quality.mean - serving.mean
    precision = prior_precision + 1 / max(v, 1e-12)
    return (gap / max(v, 1e-12)) / precision, 1 / precision


def samples_to_decide(sd: float, margin: float, confidence: float) -> int:
    """Scored requests of a candidate before the always-valid interval's half-width falls under margin / 2."""
    if margin <= 0:
        return 10 ** 6
    n = 8
    while n < 10 ** 6 and sd * sequence_halfwidth(1.0, n, 1 - confidence, DEFAULT_TUNING_SAMPLES) > margin / 2:
        n = int(n * 1.25) + 1
    return n


def share_cap(max_share: float, requests_per_hour: float) -> float:
    """The largest total share to publish so that an hour's realized share stays under `max_share` (see above)."""
    if requests_per_hour <= 0:
        return 0.0
    return max(0.0, max_share - Z_CAP * math.sqrt(max_share * (1 - max_share) / requests_per_hour))


def allocate(arms: list[Arm], serving: MeanStats, margin: float, confidence: float, scored_per_hour: float,
             max_share: float, loss_budget: float, seed: int,
             requests_per_hour: float = math.inf) -> tuple[dict[str, float], dict]:
    """Each live candidate's share of the task's traffic, and how it was sized (for the evidence)."""
    max_share = share_cap(max_share, requests_per_hour) if math.isfinite(requests_per_hour) else max_share
    if not arms or max_share <= 0:
        return {}, {"total_share": 0.0, "why": "no live candidate" if not arms else "exploration_max_share is 0"}
    rng = np.random.default_rng(seed)
    post = [posterior(a, serving) for a in arms]
    draws = np.stack([rng.normal(m, math.sqrt(v), DRAWS) for m, v in post])
    value = np.where(draws >= -margin, np.array([[a.savings_usd_per_day] for a in arms]), 0.0)
    best = np.where(value.max(axis=0) > 0, value.argmax(axis=0), -1)
    pi = np.array([(best == i).mean() for i in range(len(arms))])
    eps = FLOOR / len(arms)
    share_of_w = (pi + eps) / (pi + eps).sum()
    sd = math.sqrt(serving.variance) if serving.n >= 2 and serving.variance > 0 else 0.1
    needed = samples_to_decide(sd, margin, confidence)
    to_go = sum(max(0, needed - a.quality.n) for a in arms)
    power_share = to_go / (TARGET_HOURS * max(scored_per_hour, 1e-9))
    total = min(max_share, max(power_share, MIN_SHARE_OF_CAP * max_share))
    # E[max(0, −d)] for d ~ N(m, v): σ·φ(m/σ) − m·Φ(−m/σ)
    loss = []
    for m, v in post:
        s = math.sqrt(v)
        loss.append(s * math.exp(-0.5 * (m / s) ** 2) / math.sqrt(2 * math.pi) - m * 0.5 * math.erfc(m / s / math.sqrt(2)))
    per_request_loss = float(np.dot(share_of_w, loss))
    bounded_by = "exploration_max_share" if total == max_share else "power"
    if per_request_loss > 0 and total * per_request_loss > loss_budget:
        total, bounded_by = loss_budget / per_request_loss, "exploration_quality_loss_budget"
    shares = {a.model: float(total * w) for a, w in zip(arms, share_of_w)}
    return shares, {"total_share": float(total), "bounded_by": bounded_by, "samples_to_decide": needed,
                    "power_share": float(power_share), "thompson_probability": dict(zip([a.model for a in arms],
                                                                                      map(float, pi))),
                    "expected_quality_loss_per_request": float(total * per_request_loss)}
