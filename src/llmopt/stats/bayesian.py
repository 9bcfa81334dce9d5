"""Bayesian A/B analysis of an effect with a Gaussian prior (GrowthBook's `EffectBayesianABTest` model)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from llmopt.lazy_modules import scipy_stats as sps
from llmopt.stats.effects import Stats, prepare


@dataclass(frozen=True)
class GaussianPrior:
    """Prior on the effect. The default is improper and flat: the posterior is the likelihood."""

    mean: float = 0.0
    variance: float = 1.0
    proper: bool = False


@dataclass(frozen=True)
class BayesianResult:
    """Posterior of the effect and the decision quantities.

    Attributes:
        effect, std_error: posterior mean and standard deviation of the effect.
        ci_low, ci_high: equal-tailed credible interval at `confidence`.
        chance_to_win: posterior probability that treatment beats control (effect > 0, or < 0 when `inverse`).
        expected_loss_control, expected_loss_treatment: expected loss (risk) of choosing each arm,
            E[max(δ, 0)] and E[max(−δ, 0)] for δ the effect oriented so that larger is better.
    """

    effect: float
    std_error: float
    ci_low: float
    ci_high: float
    chance_to_win: float
    expected_loss_control: float
    expected_loss_treatment: float
    confidence: float
    relative: bool
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def positive_part_mean(mean: float, sd: float) -> float:
    """E[max(X, 0)] for X ~ N(mean, sd²) = mean·Φ(mean/sd) + sd·φ(mean/sd)."""
    z = mean / sd
    return float(mean * sps.norm.cdf(z) + sd * sps.norm.pdf(z))


def bayesian_ab(control: Stats, treatment: Stats, relative: bool = True, prior: GaussianPrior = GaussianPrior(),
                confidence: float = 0.95, inverse: bool = False) -> BayesianResult:
    """Posterior of the effect under a normal likelihood and Gaussian prior.

    Likelihood: Δ̂ ~ N(δ, V) with Δ̂, V from `difference` (delta method when relative).
    Proper prior N(m₀, v₀): posterior precision 1/V + 1/v₀, mean (Δ̂/V + m₀/v₀) / precision.

    Args:
        relative: analyse treatment/control − 1 (the prior is then on the relative effect).
        inverse: lower is better (cost, latency, error rate): winning means a negative effect.
    """
    nan = float("nan")

    def failed(error: str) -> BayesianResult:
        return BayesianResult(nan, nan, nan, nan, nan, nan, nan, confidence, relative, error)

    bad_prior = f"prior variance = {prior.variance} must be positive" if prior.proper and prior.variance <= 0 else None
    diff = prepare(control, treatment, relative, confidence, bad_prior, require_variance=False)
    if isinstance(diff, str):
        return failed(diff)
    if diff.variance <= 0:
        return failed("both arms have zero variance: the posterior is degenerate")
    precision = 1 / diff.variance + (1 / prior.variance if prior.proper else 0.0)
    mean = (diff.effect / diff.variance + (prior.mean / prior.variance if prior.proper else 0.0)) / precision
    sd = math.sqrt(1 / precision)
    z = float(sps.norm.ppf((1 + confidence) / 2))
    oriented = -mean if inverse else mean
    loss_control = positive_part_mean(oriented, sd)
    return BayesianResult(mean, sd, mean - z * sd, mean + z * sd, float(sps.norm.cdf(oriented / sd)),
                          float(loss_control), float(loss_control - oriented), confidence, relative)
