"""Effect estimates shared by the tests: differences, relative lifts and their variances."""

from __future__ import annotations

import math
from dataclasses import dataclass

from llmopt.stats.sufficient import MeanStats, ProportionStats

Stats = MeanStats | ProportionStats


@dataclass(frozen=True)
class EffectResult:
    """A treatment-vs-control effect with its interval and test.

    Attributes:
        effect: treatment − control, or treatment / control − 1 when `relative`.
        ci_low, ci_high: interval bounds at `confidence` (±inf on the open side of a one-sided test).
        p_value: p-value of the null "no effect" under the chosen alternative.
        std_error: standard error of `effect` (delta method when relative).
        df: degrees of freedom of the reference distribution (inf for a normal one).
        error: why the test could not be computed; all numbers are NaN then.
    """

    effect: float
    ci_low: float
    ci_high: float
    p_value: float
    std_error: float
    df: float
    confidence: float
    relative: bool
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @classmethod
    def failed(cls, error: str, confidence: float, relative: bool) -> "EffectResult":
        nan = float("nan")
        return cls(nan, nan, nan, nan, nan, nan, confidence, relative, error)


@dataclass(frozen=True)
class Difference:
    """Point estimate and variance of an effect, plus the per-arm variances of the means."""

    effect: float
    variance: float
    control_mean_variance: float
    treatment_mean_variance: float


def input_problem(control: Stats, treatment: Stats, confidence: float) -> str | None:
    """The first reason the pair cannot be compared, naming the arm, or None."""
    if not 0 < confidence < 1:
        return f"confidence = {confidence} must lie strictly between 0 and 1"
    for arm, stats in (("control", control), ("treatment", treatment)):
        problem = stats.problem()
        if problem:
            return f"{arm}: {problem}"
    return None


def prepare(control: Stats, treatment: Stats, relative: bool, confidence: float, extra_problem: str | None = None,
            require_variance: bool = True) -> Difference | str:
    """The effect and its variance, or the first reason the pair cannot be analysed (shared by every test).

    Args:
        extra_problem: a test-specific reason (bad alternative, prior, power…), reported after the input checks.
        require_variance: refuse a zero variance (tests that divide by it).
    """
    problem = input_problem(control, treatment, confidence) or extra_problem
    if problem:
        return problem
    diff = difference(control, treatment, relative)
    if isinstance(diff, str):
        return diff
    if require_variance and diff.variance <= 0:
        return "both arms have zero variance: the effect cannot be tested"
    return diff


def difference(control: Stats, treatment: Stats, relative: bool) -> Difference | str:
    """Effect and its variance, or the reason it is undefined.

    Absolute: Δ = x̄ₜ − x̄꜀, Var = sₜ²/nₜ + s꜀²/n꜀.
    Relative (delta method): Δ = x̄ₜ/x̄꜀ − 1, Var = (sₜ²/nₜ)/x̄꜀² + (s꜀²/n꜀)·x̄ₜ²/x̄꜀⁴.
    """
    a = control.variance / control.n
    b = treatment.variance / treatment.n
    if not relative:
        return Difference(treatment.mean - control.mean, a + b, a, b)
    if control.mean == 0:
        return "control mean is 0: a relative effect is undefined"
    mc, mt = control.mean, treatment.mean
    return Difference(mt / mc - 1, b / mc ** 2 + a * mt ** 2 / mc ** 4, a, b)


def welch_df(control_mean_variance: float, treatment_mean_variance: float, n_control: int, n_treatment: int) -> float:
    """Welch–Satterthwaite: (a + b)² / (a²/(n꜀ − 1) + b²/(nₜ − 1)) with a, b the variances of the means."""
    a, b = control_mean_variance, treatment_mean_variance
    denominator = a * a / (n_control - 1) + b * b / (n_treatment - 1)
    return (a + b) ** 2 / denominator if denominator > 0 else math.inf
