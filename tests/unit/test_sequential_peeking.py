"""Peeking every hour: the confidence sequence keeps its error rate, the fixed-horizon test does not."""

import numpy as np

from llmopt.stats import MeanStats, sequential_ci, welch_ttest

SEED, EXPERIMENTS, HOURS, UNITS_PER_HOUR, ALPHA = 20261122, 300, 48, 100, 0.05


def aa_false_positive_rates() -> tuple[float, float]:
    """Share of A/A experiments declared different at any of the hourly looks, (sequential, fixed)."""
    rng = np.random.default_rng(SEED)
    # quality scores in [0, 1], identical in both arms: every "significant" look is a false positive
    y = rng.beta(8, 2, size=(EXPERIMENTS, 2, HOURS, UNITS_PER_HOUR))
    sums, squares = np.cumsum(y.sum(-1), axis=-1), np.cumsum((y * y).sum(-1), axis=-1)
    sequential_hits = fixed_hits = 0
    for e in range(EXPERIMENTS):
        sequential_seen = fixed_seen = False
        for h in range(HOURS):
            n = UNITS_PER_HOUR * (h + 1)
            control = MeanStats(n, float(sums[e, 0, h]), float(squares[e, 0, h]))
            treatment = MeanStats(n, float(sums[e, 1, h]), float(squares[e, 1, h]))
            sequential = sequential_ci(control, treatment, confidence=1 - ALPHA)
            sequential_seen |= not sequential.ci_low <= 0 <= sequential.ci_high
            fixed_seen |= welch_ttest(control, treatment, confidence=1 - ALPHA).p_value < ALPHA
        sequential_hits += sequential_seen
        fixed_hits += fixed_seen
    return sequential_hits / EXPERIMENTS, fixed_hits / EXPERIMENTS


def test_hourly_peeking_keeps_the_false_positive_rate_with_sequential_intervals():
    sequential_rate, fixed_rate = aa_false_positive_rates()
    # binomial standard error of a 5% rate over 300 experiments is 1.3 points: allow two of them
    assert sequential_rate <= ALPHA + 0.025, sequential_rate
    # 48 looks at a fixed-horizon test inflate its error several-fold; this is why sequential_ci exists
    assert fixed_rate >= 3 * ALPHA, fixed_rate
