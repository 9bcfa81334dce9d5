"""The drift guard: pooling a day of evidence must not hide what changed in the last hours.

Per (service, task_type, model), the recent hours are compared with the rest of the lookback on mean
quality (Welch's z on the two means, from the pooled sums and sums of squares) and on error rate (Fisher's
exact test: errors are rare, and the normal approximation flags 2 errors in 40). Both parts need at least `MIN_PART` observations. A two-sided p below
`drift_alpha` (default 0.001: about 100 cells × 2 tests are run every hour, and a false alarm costs only
evidence, never quality) flags the cell, and its task decides on the recent hours alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from scipy import stats as sps

from llmopt.stats import MeanStats

MIN_PART = 30


@dataclass(frozen=True)
class DriftFinding:
    """A cell whose recent hours differ from the rest of the lookback."""

    service: str
    task_type: str
    model: str
    metric: str                 # "quality" or "error_rate"
    recent: float
    earlier: float
    p_value: float
    recent_hours: int

    def __str__(self) -> str:
        return (f"drift in {self.model} {self.metric}: {self.recent:.3f} in the last {self.recent_hours} h vs "
                f"{self.earlier:.3f} before (p = {self.p_value:.2g}); decided on the last {self.recent_hours} h alone")


def _quality_p(r: pd.Series, e: pd.Series) -> tuple[float, float, float] | None:
    if min(r["scored"], e["scored"]) < MIN_PART:
        return None
    parts = [MeanStats(int(p["scored"]), float(p["quality_sum"]), float(p["quality_sum_squares"])) for p in (r, e)]
    means = [p.mean for p in parts]
    se = math.sqrt(sum(p.variance / p.n for p in parts))
    if se == 0:
        return (means[0], means[1], 1.0 if means[0] == means[1] else 0.0)
    return means[0], means[1], float(2 * sps.norm.sf(abs(means[0] - means[1]) / se))


def _error_p(r: pd.Series, e: pd.Series) -> tuple[float, float, float] | None:
    if min(r["requests"], e["requests"]) < MIN_PART:
        return None
    table = [[int(r["errors"]), int(r["requests"] - r["errors"])], [int(e["errors"]), int(e["requests"] - e["errors"])]]
    return r["errors"] / r["requests"], e["errors"] / e["requests"], float(sps.fisher_exact(table).pvalue)


def find_drift(recent: pd.DataFrame, earlier: pd.DataFrame, alpha: float, recent_hours: int) -> list[DriftFinding]:
    """Cells (indexed by service, task_type, model in both frames) whose recent part differs significantly."""
    out = []
    for key in recent.index.intersection(earlier.index):
        r, e = recent.loc[key], earlier.loc[key]
        for metric, test in (("quality", _quality_p), ("error_rate", _error_p)):
            found = test(r, e)
            if found is not None and found[2] < alpha:
                out.append(DriftFinding(*key, metric, found[0], found[1], found[2], recent_hours))
    return out
