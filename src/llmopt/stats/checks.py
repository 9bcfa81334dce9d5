"""Trust checks: sample-ratio mismatch and multiple-testing correction."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from llmopt.lazy_modules import scipy_stats as sps

SRM_THRESHOLD = 0.001  # below this p-value the split is broken and no decision is made


@dataclass(frozen=True)
class SrmResult:
    """Chi-square goodness-of-fit of observed units per variant against the configured weights."""

    p_value: float
    chi_square: float
    mismatch: bool
    error: str | None = None


def srm_check(observed_counts: Sequence[int], expected_weights: Sequence[float],
              threshold: float = SRM_THRESHOLD) -> SrmResult:
    """Sample-ratio mismatch test: χ² = Σ (oᵢ − eᵢ)²/eᵢ with eᵢ = N·wᵢ/Σw, k − 1 degrees of freedom."""
    nan = float("nan")
    if len(observed_counts) != len(expected_weights):
        return SrmResult(nan, nan, False, f"{len(observed_counts)} observed counts but {len(expected_weights)} weights")
    if len(observed_counts) < 2:
        return SrmResult(nan, nan, False, "at least two variants are needed")
    if any(c < 0 for c in observed_counts) or any(not w > 0 for w in expected_weights):
        return SrmResult(nan, nan, False, "counts must be ≥ 0 and weights > 0")
    total = sum(observed_counts)
    if total == 0:
        return SrmResult(nan, nan, False, "no units observed")
    expected = [total * w / sum(expected_weights) for w in expected_weights]
    chi2, p = sps.chisquare(list(observed_counts), expected)
    return SrmResult(float(p), float(chi2), bool(p < threshold))


@dataclass(frozen=True)
class AdjustedPValues:
    """Adjusted p-values in input order, and which hypotheses are rejected at `alpha`."""

    method: str
    adjusted: tuple[float, ...]
    rejected: tuple[bool, ...]
    alpha: float
    error: str | None = None


def adjust_p_values(p_values: Sequence[float], method: str = "holm", alpha: float = 0.05) -> AdjustedPValues:
    """Correct a family of p-values (variants × metrics) for multiple testing.

    holm: step-down, p̃₍ᵢ₎ = maxⱼ≤ᵢ min(1, (m − j + 1)·p₍ⱼ₎), controls the family-wise error rate.
    bh: Benjamini–Hochberg step-up, p̃₍ᵢ₎ = minⱼ≥ᵢ min(1, m·p₍ⱼ₎/j), controls the false discovery rate.
    """
    if method not in ("holm", "bh"):
        return AdjustedPValues(method, (), (), alpha, f"method = {method!r}; expected 'holm' or 'bh'")
    bad = [i for i, p in enumerate(p_values) if not (isinstance(p, (int, float)) and 0 <= p <= 1)]
    if bad:
        return AdjustedPValues(method, (), (), alpha, f"p-value at position {bad[0]} is {p_values[bad[0]]!r}, not in [0, 1]")
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [math.nan] * m
    if method == "holm":
        running = 0.0
        for rank, i in enumerate(order):
            running = max(running, min(1.0, (m - rank) * p_values[i]))
            adjusted[i] = running
    else:
        running = 1.0
        for rank in range(m - 1, -1, -1):
            i = order[rank]
            running = min(running, m * p_values[i] / (rank + 1))
            adjusted[i] = min(1.0, running)
    return AdjustedPValues(method, tuple(adjusted), tuple(p <= alpha for p in adjusted), alpha)
