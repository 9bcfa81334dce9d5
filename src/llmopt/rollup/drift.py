"""The drift guard: pooling a day of evidence must not hide what changed in the last hours.

Per (service, task_type, model), the recent hours are compared with the rest of the lookback on mean
quality (Welch's z on the two means, from the pooled sums and sums of squares) and on error rate (Fisher's
exact test: errors are rare, and the normal approximation flags 2 errors in 40). Both parts need at least
`MIN_PART` observations.

Two recent windows are tested: `drift_recent_hours` (default 3) and `drift_short_hours` (default 1). A drop in
the last hour alone is diluted in the long window (one bad hour averaged with two good ones: a third of the gap on
three times the rows, so z ÷ √3) but not in the short one; a drop three hours old is seen by both. `drift_alpha`
(default 0.001: about 100 cells × 2 tests are run every hour, and a false alarm costs only evidence, never
quality) is the false-alarm rate per cell and metric over both windows: each window tests at `drift_alpha / 2`
(Bonferroni; the two tests share the last hour, so they are positively correlated and the split is
conservative). A flagged cell's task decides on the shortest flagged window alone: its hours are the ones sure to
be after the change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import pandas as pd

from llmopt.lazy_modules import scipy_stats as sps
from llmopt.rollup.partition import CELL_KEYS, SUM_COLUMNS
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
    recent_hours: int           # the window tested
    decided_hours: int | None = None    # the hours its task decides on (default: `recent_hours`)

    def __str__(self) -> str:
        return (f"drift in {self.model} {self.metric}: {self.recent:.3f} in the last {self.recent_hours} h vs "
                f"{self.earlier:.3f} before (p = {self.p_value:.2g}); decided on the last "
                f"{self.decided_hours or self.recent_hours} h alone")


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


def drift_windows(recent_hours: int, short_hours: int) -> tuple[int, ...]:
    """The recent windows tested, shortest first: a length of 0 is off, and equal lengths are one window."""
    return tuple(sorted({h for h in (short_hours, recent_hours) if h > 0}))


def find_drift_in_windows(cells: pd.DataFrame, end: datetime, windows: Sequence[int],
                          alpha: float) -> list[DriftFinding]:
    """Each window's last hours against the lookback before them, at `alpha / len(windows)` each (Bonferroni).

    Args:
        cells: per-partition cell statistics: CELL_KEYS, SUM_COLUMNS and the partition's `start`.
        end: the end of the lookback.
        windows: the recent spans tested, in hours (see `drift_windows`).
        alpha: the false-alarm rate per cell and metric over all the windows.

    Returns:
        Per (cell, metric), the finding of the shortest window that flagged it, with `decided_hours` set to the
        shortest window that flagged any cell of its (service, task_type): what the task decides on.
    """
    found: dict[tuple, DriftFinding] = {}
    for hours in sorted(windows, reverse=True):          # longest first: a shorter window's finding overwrites
        cutoff = end - timedelta(hours=hours)
        recent, earlier = cells[cells["start"] >= cutoff], cells[cells["start"] < cutoff]
        if recent.empty or earlier.empty:
            continue
        for d in find_drift(recent.groupby(CELL_KEYS)[SUM_COLUMNS].sum(),
                            earlier.groupby(CELL_KEYS)[SUM_COLUMNS].sum(), alpha / len(windows), hours):
            found[(d.service, d.task_type, d.model, d.metric)] = d
    decided: dict[tuple[str, str], int] = {}
    for d in found.values():
        task = (d.service, d.task_type)
        decided[task] = min(decided.get(task, d.recent_hours), d.recent_hours)
    return [replace(d, decided_hours=decided[(d.service, d.task_type)]) for _, d in sorted(found.items())]
