"""The statistics engine against scipy, statsmodels and GrowthBook's published gbstats values."""

import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest as sm_ztest

from llmopt.stats import (CovariateStats, GaussianPrior, MeanStats, ProportionStats, adjust_p_values, bayesian_ab,
                          cuped_adjust, power_analysis, proportions_ztest, srm_check, welch_ttest)

TOL = 1e-4  # the agreement tolerance; the absolute errors below are far smaller


def stats_of(x) -> MeanStats:
    x = np.asarray(x, dtype=float)
    return MeanStats(len(x), float(x.sum()), float((x ** 2).sum()))


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_welch_ttest_matches_scipy(alternative):
    rng = np.random.default_rng(3)
    control, treatment = rng.normal(0.70, 0.20, 400), rng.normal(0.73, 0.35, 250)
    want = sps.ttest_ind(treatment, control, equal_var=False, alternative=alternative)
    want_ci = want.confidence_interval(0.9)
    got = welch_ttest(stats_of(control), stats_of(treatment), confidence=0.9, alternative=alternative)
    assert got.effect == pytest.approx(treatment.mean() - control.mean(), abs=1e-12)
    assert got.p_value == pytest.approx(want.pvalue, abs=TOL)
    assert got.df == pytest.approx(want.df, rel=1e-9)
    assert (got.ci_low, got.ci_high) == (pytest.approx(want_ci.low, abs=TOL), pytest.approx(want_ci.high, abs=TOL))


def test_proportions_ztest_matches_statsmodels():
    control, treatment = ProportionStats(n=1800, successes=162), ProportionStats(n=1750, successes=196)
    z, p = sm_ztest([196, 162], [1750, 1800])
    low, high = confint_proportions_2indep(196, 1750, 162, 1800, compare="diff", method="wald", alpha=0.05)
    got = proportions_ztest(control, treatment)
    assert got.p_value == pytest.approx(p, abs=TOL)
    assert got.effect / math.sqrt(0.0 + (358 / 3550) * (1 - 358 / 3550) * (1 / 1800 + 1 / 1750)) == pytest.approx(z, abs=TOL)
    assert (got.ci_low, got.ci_high) == (pytest.approx(low, abs=TOL), pytest.approx(high, abs=TOL))
    one_sided = proportions_ztest(control, treatment, alternative="greater")
    assert one_sided.p_value == pytest.approx(sm_ztest([196, 162], [1750, 1800], alternative="larger")[1], abs=TOL)


# GrowthBook gbstats, packages/stats/tests/frequentist/test_tests.py: TwoSidedTTest with
# Statistic(value=0.41, stddev=3.9, n=3407) vs (0.70, 6.2, 3461). The absolute case is from the
# release whose TwoSidedTTest reported absolute effects; the relative one from the current release.
GB_CONTROL = MeanStats.from_mean_variance(3407, 0.41, 3.9 ** 2)
GB_TREATMENT = MeanStats.from_mean_variance(3461, 0.70, 6.2 ** 2)


def test_gbstats_two_sided_ttest_absolute():
    got = welch_ttest(GB_CONTROL, GB_TREATMENT)
    assert (got.effect, got.ci_low, got.ci_high, got.p_value) == pytest.approx((0.29, 0.04538, 0.53462, 0.02016), abs=TOL)


def test_gbstats_two_sided_ttest_relative():
    got = welch_ttest(GB_CONTROL, GB_TREATMENT, relative=True)
    assert (got.effect, got.std_error, got.ci_low, got.ci_high, got.p_value) == pytest.approx(
        (0.70732, 0.37879, -0.03526, 1.44989, 0.06191), abs=TOL)


# gbstats packages/stats/tests/bayesian/test_tests.py (EffectBayesianABTest, flat improper prior unless stated).
@pytest.mark.parametrize("control, treatment, prior, want", [
    (ProportionStats(100, 49), ProportionStats(100, 51), GaussianPrior(),
     (0.04082, 0.14725, -0.24779, 0.32943, 0.60918, 0.0814, 0.04058)),
    (MeanStats(10, 100, 1002.25), MeanStats(10, 105, 1111.5), GaussianPrior(),
     (0.05, 0.03572, -0.02, 0.12, 0.91923, 0.05131, 0.00131)),
    (MeanStats(10, 100, 1002.25), MeanStats(10, 105, 1111.5), GaussianPrior(mean=0.1, variance=0.1, proper=True),
     (0.05063, 0.03549, -0.01893, 0.12019, 0.92315, 0.05186, 0.00123)),
], ids=["binomial", "gaussian", "gaussian-informative-prior"])
def test_gbstats_bayesian_cases(control, treatment, prior, want):
    got = bayesian_ab(control, treatment, relative=True, prior=prior)
    assert (got.effect, got.std_error, got.ci_low, got.ci_high, got.chance_to_win,
            got.expected_loss_control, got.expected_loss_treatment) == pytest.approx(want, abs=TOL)


def test_bayesian_inverse_metric_wins_when_lower():
    cheaper = bayesian_ab(MeanStats(10, 105, 1111.5), MeanStats(10, 100, 1002.25), relative=True, inverse=True)
    assert cheaper.effect < 0 and cheaper.chance_to_win > 0.9
    assert cheaper.expected_loss_treatment < cheaper.expected_loss_control


def test_multiple_testing_matches_statsmodels():
    p = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.5]
    for method, sm_method in (("holm", "holm"), ("bh", "fdr_bh")):
        rejected, adjusted, _, _ = multipletests(p, alpha=0.05, method=sm_method)
        got = adjust_p_values(p, method=method, alpha=0.05)
        assert got.adjusted == pytest.approx(list(adjusted), abs=1e-12)
        assert list(got.rejected) == list(rejected)


def test_srm_detects_a_skewed_split_and_passes_a_fair_one():
    skewed = srm_check([10_000, 10_600], [0.5, 0.5])
    assert skewed.mismatch and skewed.p_value < 0.001
    assert skewed.p_value == pytest.approx(sps.chisquare([10_000, 10_600]).pvalue, rel=1e-9)
    fair = srm_check([10_030, 9_960, 5_010], [2, 2, 1])
    assert not fair.mismatch and fair.p_value > 0.5


def test_cuped_reduces_variance_by_rho_squared_and_keeps_the_effect():
    rng = np.random.default_rng(7)
    n, rho, effect = 20_000, 0.8, 0.05

    def arm(shift):
        x = rng.normal(1.0, 1.0, n)
        y = shift + 1.0 + rho * (x - 1.0) + math.sqrt(1 - rho ** 2) * rng.normal(0, 1.0, n)
        return x, y, CovariateStats(n, y.sum(), (y * y).sum(), x.sum(), (x * x).sum(), (x * y).sum())

    (xc, yc, c), (xt, yt, t) = arm(0.0), arm(effect)
    got = cuped_adjust(c, t)
    assert got.variance_reduction == pytest.approx(rho ** 2, abs=0.02)
    # Against the estimator computed on the raw arrays: y − θ(x − x̄_pooled).
    x_all, y_all = np.concatenate([xc, xt]), np.concatenate([yc, yt])
    theta = np.cov(x_all, y_all)[0, 1] / x_all.var(ddof=1)
    assert got.theta == pytest.approx(theta, rel=1e-9)
    direct = welch_ttest(stats_of(yc - theta * (xc - x_all.mean())), stats_of(yt - theta * (xt - x_all.mean())))
    adjusted = welch_ttest(got.control, got.treatment)
    assert (adjusted.effect, adjusted.std_error) == pytest.approx((direct.effect, direct.std_error), rel=1e-6)
    assert adjusted.ci_low < effect < adjusted.ci_high


def test_power_gives_the_mde_and_the_units_still_needed():
    control, treatment = MeanStats.from_mean_variance(1000, 0.80, 0.04), MeanStats.from_mean_variance(1000, 0.80, 0.04)
    got = power_analysis(control, treatment, target_effect=0.01)
    se = math.sqrt(0.04 / 1000 * 2)
    assert got.minimum_detectable_effect == pytest.approx((1.959964 + 0.841621) * se, abs=1e-5)
    k = (got.minimum_detectable_effect / 0.01) ** 2
    assert got.additional_units == pytest.approx((k - 1) * 2000, rel=1e-9)
    assert power_analysis(control, treatment, target_effect=1.0).additional_units == 0


@pytest.mark.parametrize("call, message", [
    (lambda: welch_ttest(MeanStats(1, 0.5, 0.25), MeanStats(10, 5, 3)), "control: n = 1"),
    (lambda: welch_ttest(MeanStats(10, 5, 3), MeanStats(10, 5, 1.0)), "treatment: negative variance"),
    (lambda: welch_ttest(MeanStats(10, 0, 0), MeanStats(10, 0, 0)), "zero variance"),
    (lambda: welch_ttest(MeanStats(10, 0, 1), MeanStats(10, 5, 3), relative=True), "control mean is 0"),
    (lambda: proportions_ztest(ProportionStats(10, 12), ProportionStats(10, 5)), "control: successes = 12"),
    (lambda: bayesian_ab(MeanStats(0, 0, 0), MeanStats(0, 0, 0)), "control: n = 0"),
    (lambda: srm_check([10, 20, 30], [0.5, 0.5]), "3 observed counts but 2 weights"),
    (lambda: adjust_p_values([0.01, float("nan")]), "position 1"),
    (lambda: power_analysis(MeanStats(10, 5, 3), MeanStats(10, 5, 3), 0.0), "target_effect"),
])
def test_invalid_input_gives_an_explicit_error_not_a_crash(call, message):
    result = call()
    assert result.error is not None and message in result.error
