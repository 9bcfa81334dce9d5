"""Exploration's allocation: bounded by the share cap and the quality-loss budget, tilted by Thompson sampling."""

import numpy as np

from llmopt.evaluate.allocation import Arm, allocate, samples_to_decide, share_cap
from llmopt.stats import MeanStats


def stats(n: int, mean: float, sd: float = 0.05) -> MeanStats:
    return MeanStats.from_mean_variance(n, mean, sd * sd)


SERVING = stats(40_000, 0.93)


def test_an_hours_realized_share_stays_under_the_cap_with_the_stated_probability():
    cap = share_cap(0.05, 3000)
    assert 0.034 < cap < 0.037                              # 0.05 − 3.72·√(0.05·0.95/3000)
    realized = np.random.default_rng(1).binomial(3000, cap, 200_000) / 3000
    assert (realized > 0.05).mean() < 5e-4                  # designed for 1e-4; tolerance for the normal approximation
    assert share_cap(0.05, 0) == 0.0


def test_unknown_candidates_share_the_capped_total_and_a_clearly_worse_one_is_starved():
    fresh = [Arm("a", 100.0, MeanStats(0, 0, 0)), Arm("b", 50.0, MeanStats(0, 0, 0))]
    shares, sizing = allocate(fresh, SERVING, 0.02, 0.95, 1800, 0.05, 1.0, seed=3, requests_per_hour=3000)
    assert abs(sum(shares.values()) - share_cap(0.05, 3000)) < 1e-9
    assert sizing["bounded_by"] == "exploration_max_share"
    assert shares["a"] > shares["b"]                        # the larger saving wins more Thompson draws
    known = [Arm("good", 50.0, stats(300, 0.928)), Arm("bad", 100.0, stats(300, 0.85))]
    shares, sizing = allocate(known, SERVING, 0.02, 0.95, 1800, 0.05, 1.0, seed=3)
    assert sizing["thompson_probability"]["bad"] < 0.01
    assert shares["bad"] / sum(shares.values()) < 0.06      # only the floor ε = 0.1 / 2 of it, normalized


def test_the_quality_loss_budget_shrinks_the_total():
    arms = [Arm("worse", 100.0, stats(50, 0.88))]
    shares, sizing = allocate(arms, SERVING, 0.02, 0.95, 1800, 0.05, 0.0005, seed=1)
    assert sizing["bounded_by"] == "exploration_quality_loss_budget"
    assert abs(sizing["expected_quality_loss_per_request"] - 0.0005) < 1e-9
    assert sum(shares.values()) < 0.05


def test_power_sizes_the_total_below_the_cap_on_a_busy_task():
    arms = [Arm("a", 100.0, MeanStats(0, 0, 0))]
    needed = samples_to_decide(0.05, 0.02, 0.95)
    assert 300 < needed < 600                               # ≈ (4.0 · 0.05 / 0.01)²: the sequence is ~4 se wide here
    shares, sizing = allocate(arms, SERVING, 0.02, 0.95, 1_000_000, 0.05, 1.0, seed=1)
    assert sizing["bounded_by"] == "power"
    assert abs(sum(shares.values()) - 0.25 * 0.05) < 1e-9   # power met within the hour: the floor of a quarter cap
