"""Statistics from sufficient statistics, so that heavy aggregation can run in the database."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from llmopt.lazy_modules import scipy_stats as sps


@dataclass(frozen=True)
class MeanStats:
    """Sufficient statistics of a metric: count, sum and sum of squares."""

    n: int
    sum: float
    sum_squares: float

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n else float("nan")

    @property
    def variance(self) -> float:
        """Unbiased sample variance: (Σx² − (Σx)²/n) / (n − 1); NaN when n < 2."""
        if self.n < 2:
            return float("nan")
        return max(0.0, self.raw_variance)

    @property
    def raw_variance(self) -> float:
        """The variance before clamping float noise at zero; clearly negative means inconsistent sums."""
        return (self.sum_squares - self.sum ** 2 / self.n) / (self.n - 1) if self.n >= 2 else float("nan")

    @classmethod
    def of(cls, values) -> "MeanStats":
        """The sums of an array or Series of observed values (NaN-free)."""
        values = np.asarray(values, dtype=float)
        return cls(len(values), float(values.sum()), float((values * values).sum()))

    @classmethod
    def from_mean_variance(cls, n: int, mean: float, variance: float) -> "MeanStats":
        """Sums that reproduce a given mean and unbiased variance: Σx = n·x̄, Σx² = (n−1)s² + n·x̄²."""
        return cls(n, n * mean, (n - 1) * variance + n * mean * mean)

    def problem(self) -> str | None:
        """Why these statistics cannot be analysed, or None when they can."""
        if not all(math.isfinite(v) for v in (self.n, self.sum, self.sum_squares)):
            return "sums are not finite"
        if self.n < 2:
            return f"n = {self.n}: at least 2 observations are needed"
        # Tolerance relative to the sums: Σx² − (Σx)²/n suffers cancellation for large means.
        if self.raw_variance < -1e-9 * max(1.0, abs(self.sum_squares) / self.n):
            return f"negative variance ({self.raw_variance:.3g}): sum_squares is inconsistent with sum and n"
        return None


@dataclass(frozen=True)
class ProportionStats:
    """Sufficient statistics of a rate: trials and successes."""

    n: int
    successes: int

    @property
    def rate(self) -> float:
        return self.successes / self.n if self.n else float("nan")

    @property
    def variance(self) -> float:
        """Per-observation Bernoulli variance p(1 − p) (GrowthBook's convention for proportions)."""
        return self.rate * (1 - self.rate)

    @property
    def mean(self) -> float:
        return self.rate

    def problem(self) -> str | None:
        """Why these counts cannot be analysed, or None when they can."""
        if self.n < 2:
            return f"n = {self.n}: at least 2 trials are needed"
        if not 0 <= self.successes <= self.n:
            return f"successes = {self.successes} is outside [0, n = {self.n}]"
        return None


@dataclass(frozen=True)
class Interval:
    """An estimate with its two-sided confidence interval."""

    estimate: float
    low: float
    high: float
    confidence: float


def mean_interval(stats: MeanStats, confidence: float) -> Interval:
    """Student-t interval for a mean: x̄ ± t_{(1+c)/2, n−1} · s/√n."""
    if stats.n < 2:
        return Interval(stats.mean, float("nan"), float("nan"), confidence)
    half = sps.t.ppf((1 + confidence) / 2, stats.n - 1) * math.sqrt(stats.variance / stats.n)
    return Interval(stats.mean, stats.mean - half, stats.mean + half, confidence)


def welch_difference_interval(control: MeanStats, treatment: MeanStats, confidence: float) -> Interval:
    """Interval for mean(treatment) − mean(control) with Welch–Satterthwaite degrees of freedom.

    df = (v₁/n₁ + v₂/n₂)² / ((v₁/n₁)²/(n₁−1) + (v₂/n₂)²/(n₂−1)).
    """
    if control.n < 2 or treatment.n < 2:
        return Interval(treatment.mean - control.mean, float("nan"), float("nan"), confidence)
    a, b = control.variance / control.n, treatment.variance / treatment.n
    diff = treatment.mean - control.mean
    se = math.sqrt(a + b)
    if se == 0:
        return Interval(diff, diff, diff, confidence)
    df = (a + b) ** 2 / (a ** 2 / (control.n - 1) + b ** 2 / (treatment.n - 1))
    half = sps.t.ppf((1 + confidence) / 2, df) * se
    return Interval(diff, diff - half, diff + half, confidence)


def wilson_interval(stats: ProportionStats, confidence: float) -> Interval:
    """Wilson score interval for a rate: (p̂ + z²/2n ± z√(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n)."""
    if stats.n == 0:
        return Interval(float("nan"), 0.0, 1.0, confidence)
    z = sps.norm.ppf((1 + confidence) / 2)
    p, n = stats.rate, stats.n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), confidence)
