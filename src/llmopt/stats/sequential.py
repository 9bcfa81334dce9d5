"""Always-valid inference: an asymptotic confidence sequence, safe under hourly peeking.

Waudby-Smith, Arnold, Wu, Ramdas, Karampatziakis (2023), "Time-uniform central limit theory and
asymptotic confidence sequences", arXiv:2103.06476: eq. 9 (half-width) and eq. 161 (the mixing
parameter ρ that makes the sequence tightest near a chosen sample size), as GrowthBook uses them.
"""

from __future__ import annotations

import math

from llmopt.lazy_modules import scipy_optimize
from llmopt.stats.effects import EffectResult, Stats, prepare

DEFAULT_TUNING_SAMPLES = 5000  # where the sequence is tightest (total units); GrowthBook's default


def mixing_rho(alpha: float, tuning_samples: float) -> float:
    """ρ = √((−2 ln α + ln(−2 ln α + 1)) / N) (eq. 161)."""
    log_alpha = math.log(alpha)
    return math.sqrt((-2 * log_alpha + math.log(-2 * log_alpha + 1)) / tuning_samples)


def sequence_halfwidth(per_unit_variance: float, n: int, alpha: float, tuning_samples: float) -> float:
    """Half-width √σ² · √(2(nρ² + 1) ln(√(nρ² + 1)/α) / (nρ)²) (eq. 9).

    `per_unit_variance` is the per-observation variance; for a two-arm difference with
    estimator variance SE², pass SE² · (n꜀ + nₜ) and n = n꜀ + nₜ.
    """
    rho = mixing_rho(alpha, tuning_samples)
    spread = n * rho * rho + 1
    return math.sqrt(per_unit_variance) * math.sqrt(2 * spread * math.log(math.sqrt(spread) / alpha) / (n * rho) ** 2)


def sequential_ci(control: Stats, treatment: Stats, relative: bool = False, confidence: float = 0.95,
                  tuning_samples: float = DEFAULT_TUNING_SAMPLES) -> EffectResult:
    """Always-valid two-sided interval for the effect, valid at every hourly look at once.

    The p-value is the always-valid one: the smallest alpha whose sequence excludes 0, so
    "p < alpha" and "interval excludes 0" never disagree. `df` is inf (a normal-based sequence).

    Args:
        control, treatment: sufficient statistics of each arm so far (cumulative).
        relative: sequence for treatment/control − 1 (delta-method variance) instead of the difference.
        confidence: 1 − alpha, the probability that the sequence covers the truth at all times.
        tuning_samples: total units at which the sequence is tightest.
    """
    bad_tuning = f"tuning_samples = {tuning_samples} must be positive" if tuning_samples <= 0 else None
    diff = prepare(control, treatment, relative, confidence, bad_tuning)
    if isinstance(diff, str):
        return EffectResult.failed(diff, confidence, relative)
    n = control.n + treatment.n
    per_unit = diff.variance * n

    def halfwidth(alpha: float) -> float:
        return sequence_halfwidth(per_unit, n, alpha, tuning_samples)

    half = halfwidth(1 - confidence)
    gap = abs(diff.effect)
    if gap == 0 or halfwidth(1 - 1e-12) >= gap:
        p = 1.0
    elif halfwidth(1e-300) <= gap:
        p = 0.0
    else:  # the half-width falls monotonically in alpha; find where it meets |effect|
        p = scipy_optimize.brentq(lambda alpha: halfwidth(alpha) - gap, 1e-300, 1 - 1e-12, xtol=1e-14, rtol=1e-10)
    return EffectResult(diff.effect, diff.effect - half, diff.effect + half, p, math.sqrt(diff.variance),
                        math.inf, confidence, relative)
