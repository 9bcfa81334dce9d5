"""CUPED variance reduction with a pre-period covariate (Deng, Xu, Kohavi, Walker 2013)."""

from __future__ import annotations

from dataclasses import dataclass

from llmopt.stats.sufficient import MeanStats


@dataclass(frozen=True)
class CovariateStats:
    """Sufficient statistics of a metric y and its pre-period covariate x for one arm."""

    n: int
    sum: float
    sum_squares: float
    covariate_sum: float
    covariate_sum_squares: float
    sum_products: float  # Σ x·y

    def metric(self) -> MeanStats:
        return MeanStats(self.n, self.sum, self.sum_squares)

    def covariate(self) -> MeanStats:
        return MeanStats(self.n, self.covariate_sum, self.covariate_sum_squares)

    def covariance(self) -> float:
        """Unbiased cov(x, y) = (Σxy − ΣxΣy/n) / (n − 1)."""
        return (self.sum_products - self.sum * self.covariate_sum / self.n) / (self.n - 1)


@dataclass(frozen=True)
class CupedResult:
    """Adjusted per-arm statistics to feed any test, the coefficient θ and the variance reduction."""

    control: MeanStats | None
    treatment: MeanStats | None
    theta: float
    variance_reduction: float  # 1 − Var(adjusted)/Var(raw), pooled over arms
    error: str | None = None


def cuped_adjust(control: CovariateStats, treatment: CovariateStats) -> CupedResult:
    """Adjust y by θ(x − x̄) with θ = cov(x, y)/Var(x) pooled over both arms.

    Per arm: ȳ' = ȳ − θ(x̄ₐ − x̄), Var(y') = Var(y) − 2θ·cov(x, y) + θ²·Var(x). Randomisation keeps
    E[x̄ₐ − x̄] = 0, so the effect estimate stays unbiased while its variance falls by ρ².
    """
    nan = float("nan")
    for arm, stats in (("control", control), ("treatment", treatment)):
        problem = stats.metric().problem() or stats.covariate().problem()
        if problem:
            return CupedResult(None, None, nan, nan, f"{arm}: {problem}")
    pooled = CovariateStats(*(getattr(control, f) + getattr(treatment, f) for f in CovariateStats.__dataclass_fields__))
    covariate_variance = pooled.covariate().variance
    if covariate_variance <= 0:
        return CupedResult(None, None, nan, nan, "the covariate is constant: nothing to adjust with")
    theta = pooled.covariance() / covariate_variance
    overall_x = pooled.covariate().mean

    def adjusted(stats: CovariateStats) -> MeanStats:
        var = stats.metric().variance - 2 * theta * stats.covariance() + theta ** 2 * stats.covariate().variance
        mean = stats.metric().mean - theta * (stats.covariate().mean - overall_x)
        return MeanStats.from_mean_variance(stats.n, mean, max(var, 0.0))

    adj_control, adj_treatment = adjusted(control), adjusted(treatment)
    raw = control.metric().variance + treatment.metric().variance
    reduction = 1 - (adj_control.variance + adj_treatment.variance) / raw if raw > 0 else 0.0
    return CupedResult(adj_control, adj_treatment, theta, reduction)
