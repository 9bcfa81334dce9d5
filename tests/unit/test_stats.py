"""Statistics from sufficient statistics, against hand-computed values and scipy."""

import numpy as np
import pytest
from scipy import stats as sps

from llmopt.stats import MeanStats, ProportionStats, mean_interval, welch_difference_interval, wilson_interval


def stats_of(x) -> MeanStats:
    x = np.asarray(x, dtype=float)
    return MeanStats(len(x), float(x.sum()), float((x ** 2).sum()))


def test_mean_and_variance_from_sums():
    s = MeanStats(n=4, sum=10.0, sum_squares=30.0)       # 1, 2, 3, 4
    assert s.mean == 2.5
    assert s.variance == pytest.approx(5 / 3, abs=1e-12)
    assert np.isnan(MeanStats(1, 3.0, 9.0).variance)


def test_mean_interval_matches_scipy_t_interval():
    x = np.random.default_rng(1).normal(0.8, 0.1, 50)
    low, high = sps.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sps.sem(x))
    got = mean_interval(stats_of(x), 0.95)
    assert (got.low, got.high) == (pytest.approx(low, abs=1e-10), pytest.approx(high, abs=1e-10))


def test_welch_interval_matches_scipy():
    rng = np.random.default_rng(2)
    control, treatment = rng.normal(0.85, 0.05, 300), rng.normal(0.84, 0.08, 120)
    ci = sps.ttest_ind(treatment, control, equal_var=False).confidence_interval(0.95)
    got = welch_difference_interval(stats_of(control), stats_of(treatment), 0.95)
    assert got.estimate == pytest.approx(treatment.mean() - control.mean(), abs=1e-12)
    assert (got.low, got.high) == (pytest.approx(ci.low, abs=1e-9), pytest.approx(ci.high, abs=1e-9))


def test_welch_interval_needs_two_samples_per_arm():
    got = welch_difference_interval(MeanStats(1, 0.9, 0.81), stats_of([0.8, 0.9]), 0.95)
    assert np.isnan(got.low) and np.isnan(got.high)


# By hand, e.g. 40/1000: centre (0.04 + z²/2000)/(1 + z²/1000) = 0.041760,
# half-width z·√(0.04·0.96/1000 + z²/4e6)/(1 + z²/1000) = 0.012249.
@pytest.mark.parametrize("n, k, low, high", [
    (10, 0, 0.0, 0.27753), (10, 5, 0.23659, 0.76341), (1000, 40, 0.02951, 0.05401)])
def test_wilson_interval_known_values(n, k, low, high):
    got = wilson_interval(ProportionStats(n, k), 0.95)
    assert (got.low, got.high) == (pytest.approx(low, abs=1e-5), pytest.approx(high, abs=1e-5))
