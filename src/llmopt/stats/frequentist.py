"""Frequentist tests on sufficient statistics: Welch's t-test and the two-proportion z-test."""

from __future__ import annotations

import math

from llmopt.lazy_modules import scipy_stats as sps
from llmopt.stats.effects import EffectResult, prepare, welch_df
from llmopt.stats.sufficient import MeanStats, ProportionStats

ALTERNATIVES = ("two-sided", "greater", "less")


def _alternative_problem(alternative: str) -> str | None:
    return None if alternative in ALTERNATIVES else f"alternative = {alternative!r}; expected one of {ALTERNATIVES}"


def interval_and_p(effect: float, se: float, dist, confidence: float, alternative: str) -> tuple[float, float, float]:
    """(ci_low, ci_high, p) for a statistic effect/se with reference distribution `dist` (a frozen scipy rv)."""
    stat = effect / se
    if alternative == "two-sided":
        half = dist.ppf((1 + confidence) / 2) * se
        return float(effect - half), float(effect + half), float(2 * dist.sf(abs(stat)))
    if alternative == "greater":
        return float(effect - dist.ppf(confidence) * se), math.inf, float(dist.sf(stat))
    return -math.inf, float(effect + dist.ppf(confidence) * se), float(dist.cdf(stat))


def welch_ttest(control: MeanStats | ProportionStats, treatment: MeanStats | ProportionStats, relative: bool = False,
                confidence: float = 0.95, alternative: str = "two-sided") -> EffectResult:
    """Welch's unequal-variance t-test of treatment vs control.

    Matches `scipy.stats.ttest_ind(equal_var=False)` for absolute effects and GrowthBook's
    `TwoSidedTTest` for relative ones (delta-method variance, Welch–Satterthwaite df).

    Args:
        control, treatment: sufficient statistics of each arm.
        relative: test treatment/control − 1 instead of treatment − control.
        confidence: interval level; the test's alpha is 1 − confidence.
        alternative: "two-sided", "greater" (treatment > control) or "less".
    """
    diff = prepare(control, treatment, relative, confidence, _alternative_problem(alternative))
    if isinstance(diff, str):
        return EffectResult.failed(diff, confidence, relative)
    df = welch_df(diff.control_mean_variance, diff.treatment_mean_variance, control.n, treatment.n)
    se = math.sqrt(diff.variance)
    low, high, p = interval_and_p(diff.effect, se, sps.t(df), confidence, alternative)
    return EffectResult(diff.effect, low, high, p, se, df, confidence, relative)


def proportions_ztest(control: ProportionStats, treatment: ProportionStats, relative: bool = False,
                      confidence: float = 0.95, alternative: str = "two-sided") -> EffectResult:
    """Two-proportion z-test of treatment vs control.

    Absolute: the p-value uses the pooled rate under H₀ (as `statsmodels.stats.proportion.proportions_ztest`),
    z = (p̂ₜ − p̂꜀) / √(p̄(1 − p̄)(1/nₜ + 1/n꜀)); the interval is the unpooled Wald one, whose
    standard error is reported. Relative: delta-method standard error for both.
    """
    diff = prepare(control, treatment, relative, confidence, _alternative_problem(alternative),
                   require_variance=False)     # a zero unpooled variance can still be tested with the pooled one
    if isinstance(diff, str):
        return EffectResult.failed(diff, confidence, relative)
    pooled = (control.successes + treatment.successes) / (control.n + treatment.n)
    null_variance = pooled * (1 - pooled) * (1 / control.n + 1 / treatment.n)
    if diff.variance <= 0 and null_variance <= 0:
        return EffectResult.failed("both arms have rate 0 or 1: the effect cannot be tested", confidence, relative)
    se = math.sqrt(diff.variance)
    normal = sps.norm()
    if se > 0:
        low, high, p = interval_and_p(diff.effect, se, normal, confidence, alternative)
    else:
        low = high = diff.effect
    if not relative:
        _, _, p = interval_and_p(diff.effect, math.sqrt(null_variance), normal, confidence, alternative)
    elif se == 0:
        p = 0.0 if diff.effect != 0 else 1.0
    return EffectResult(diff.effect, low, high, p, se, math.inf, confidence, relative)
