"""llmopt's statistics engine: pure functions on sufficient statistics, so aggregation can run in SQL.

Every test returns a frozen result; input that cannot be analysed gives a result whose `error`
says why (its numbers are NaN), never an exception or a silent NaN.
"""

from llmopt.stats.bayesian import BayesianResult, GaussianPrior, bayesian_ab
from llmopt.stats.checks import SRM_THRESHOLD, AdjustedPValues, SrmResult, adjust_p_values, srm_check
from llmopt.stats.cuped import CovariateStats, CupedResult, cuped_adjust
from llmopt.stats.effects import EffectResult
from llmopt.stats.frequentist import proportions_ztest, welch_ttest
from llmopt.stats.power import PowerResult, power_analysis
from llmopt.stats.sequential import DEFAULT_TUNING_SAMPLES, sequential_ci
from llmopt.stats.sufficient import (Interval, MeanStats, ProportionStats, mean_interval, welch_difference_interval,
                                     wilson_interval)

__all__ = [
    "AdjustedPValues", "BayesianResult", "CovariateStats", "CupedResult", "DEFAULT_TUNING_SAMPLES", "EffectResult",
    "GaussianPrior", "Interval", "MeanStats", "PowerResult", "ProportionStats", "SRM_THRESHOLD", "SrmResult",
    "adjust_p_values", "bayesian_ab", "cuped_adjust", "mean_interval", "power_analysis", "proportions_ztest",
    "sequential_ci", "srm_check", "welch_difference_interval", "welch_ttest", "wilson_interval",
]
