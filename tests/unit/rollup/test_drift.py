"""The drift guard's two windows: a drop in the last hour alone is caught, at a Bonferroni-split alpha."""

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from llmopt.domain import Window
from llmopt.rollup.drift import drift_windows
from llmopt.rollup.partition import PartitionRollup, plan_partitions, reduce_partition
from llmopt.rollup.pool import EvidencePool, pool_evidence
from llmopt.settings import Policy
from tests.conftest import WINDOW_END

GOOD = np.tile([0.85, 0.95], 20)        # 40 scores an hour: mean 0.90, sd 0.05
BAD = GOOD - 0.04                       # the last hour: mean 0.86


class Free:
    @staticmethod
    def fill_cost(frame):
        return frame["cost_usd"]


def hour_rows(start, cells: dict[tuple[str, str, str], np.ndarray]) -> pd.DataFrame:
    """One hour of rows: per (service, task_type, model), one ok, scored request per score."""
    frames = []
    for (service, task, model), scores in cells.items():
        n = len(scores)
        frames.append(pd.DataFrame({
            "request_id": [f"{start:%H}-{task}-{model}-{i}" for i in range(n)],
            "ts": [start + timedelta(seconds=60 * i) for i in range(n)],
            "service": service, "task_type": task, "model": model, "provider": "openai", "status": "ok",
            "quality_score": scores, "cost_usd": 0.0, "prompt_tokens": 100, "completion_tokens": 10,
            "cached_tokens": 0, "latency_ms": 500.0}))
    return pd.concat(frames, ignore_index=True)


def pooled_day(policy: Policy, bad_hours: int = 1):
    """24 hours of summarize (gpt-4o-mini) and classify_ticket (gpt-4o) at GOOD; mini's last `bad_hours` at BAD."""
    pool = EvidencePool(Window(WINDOW_END - timedelta(hours=1), WINDOW_END), max_sample_rows=1_000_000)
    parts = plan_partitions(WINDOW_END - timedelta(hours=24), WINDOW_END)
    for i, part in enumerate(parts):
        mini = BAD if i >= len(parts) - bad_hours else GOOD
        rows = hour_rows(part.start, {("search", "summarize", "gpt-4o-mini"): mini,
                                      ("support", "classify_ticket", "gpt-4o"): GOOD})
        cells, sample, tau = reduce_partition(rows, Free, 100_000)
        pool.add(PartitionRollup(part, "fp", cells, sample, tau, len(rows)))
    return pool_evidence(pool, policy)


def welch_p(recent: np.ndarray, earlier: np.ndarray) -> float:
    """Two-sided p of z = Δmean / √(s²_r/n_r + s²_e/n_e), straight from the scores."""
    z = (recent.mean() - earlier.mean()) / np.sqrt(recent.var(ddof=1) / len(recent)
                                                   + earlier.var(ddof=1) / len(earlier))
    return float(2 * stats.norm.sf(abs(z)))


def test_the_expected_p_values_of_the_one_hour_drop():
    """The 3-hour window averages the bad hour with two good ones: z = −2.57, p = 0.010, missed at 0.001; the
    1-hour window sees the whole 0.04: z = −4.89, p = 9.9e-7, caught at 0.001 / 2."""
    assert welch_p(BAD, np.tile(GOOD, 23)) == pytest.approx(9.918e-7, rel=1e-3)
    assert welch_p(np.concatenate([GOOD, GOOD, BAD]), np.tile(GOOD, 21)) == pytest.approx(0.010254, rel=1e-3)


def test_a_drop_in_the_last_hour_alone_is_caught_and_decided_on_that_hour():
    evidence = pooled_day(Policy())
    assert [(d.service, d.task_type, d.model, d.metric, d.recent_hours, d.decided_hours) for d in evidence.drift] \
        == [("search", "summarize", "gpt-4o-mini", "quality", 1, 1)]
    finding = evidence.drift[0]
    assert finding.recent == pytest.approx(0.86, abs=1e-12) and finding.earlier == pytest.approx(0.90, abs=1e-12)
    assert finding.p_value == pytest.approx(9.918e-7, rel=1e-3)
    cells = evidence.cells.set_index(["service", "task_type", "model"])
    assert cells.loc[("search", "summarize", "gpt-4o-mini"), "scored"] == 40        # the last hour alone
    assert cells.loc[("search", "summarize", "gpt-4o-mini"), "quality_sum"] == pytest.approx(40 * 0.86, abs=1e-9)
    assert cells.loc[("search", "summarize", "gpt-4o-mini"), "hours"] == 1.0
    assert cells.loc[("support", "classify_ticket", "gpt-4o"), "scored"] == 24 * 40   # the other task keeps the day
    assert cells.loc[("support", "classify_ticket", "gpt-4o"), "hours"] == 24.0
    sample = evidence.sample[evidence.sample["task_type"] == "summarize"]
    assert len(sample) == 40 and sample["ts"].min() >= WINDOW_END - timedelta(hours=1)
    assert "0.860 in the last 1 h vs 0.900 before" in evidence.describe("search", "summarize")
    assert "decided on the last 1 h alone" in evidence.describe("search", "summarize")


def test_the_three_hour_window_alone_misses_the_one_hour_drop():
    """The guard before the short window: p = 0.010 > 0.001, so the bad hour is pooled with 23 good ones."""
    evidence = pooled_day(Policy(drift_short_hours=0))
    assert evidence.drift == []
    cells = evidence.cells.set_index(["service", "task_type", "model"])
    assert cells.loc[("search", "summarize", "gpt-4o-mini"), "scored"] == 24 * 40


def test_the_alpha_is_split_between_the_two_windows():
    """p = 9.9e-7 passes one window at α = 1.5e-6 but not two at α / 2 = 7.5e-7 each; at α = 2.5e-6 it passes."""
    one_window = Policy(drift_alpha=1.5e-6, drift_recent_hours=1, drift_short_hours=0)
    assert [d.recent_hours for d in pooled_day(one_window).drift] == [1]
    assert pooled_day(Policy(drift_alpha=1.5e-6)).drift == []
    assert [d.recent_hours for d in pooled_day(Policy(drift_alpha=2.5e-6)).drift] == [1]


def test_a_stationary_day_flags_nothing_in_either_window():
    assert pooled_day(Policy(), bad_hours=0).drift == []


def test_a_three_hour_old_drop_is_seen_by_both_windows_and_decided_on_the_shortest():
    """Both windows flag it (1 h: 0.86 vs 23 h of which 2 are bad, p = 8.1e-6; 3 h: 0.86 vs 21 good hours); the task
    decides on the last hour, the one sure to be after the change."""
    evidence = pooled_day(Policy(), bad_hours=3)
    assert [(d.recent_hours, d.decided_hours) for d in evidence.drift] == [(1, 1)]   # one finding per cell
    earlier = np.concatenate([np.tile(GOOD, 21), BAD, BAD])
    assert evidence.drift[0].p_value == pytest.approx(welch_p(BAD, earlier), rel=1e-9)
    assert evidence.drift[0].earlier == pytest.approx((21 * 0.90 + 2 * 0.86) / 23, abs=1e-12)
    cells = evidence.cells.set_index(["service", "task_type", "model"])
    assert cells.loc[("search", "summarize", "gpt-4o-mini"), "scored"] == 40
    # with the short window off, the 3-hour window decides on its 3 hours (p = 3.2e-16 for the full 0.04)
    alone = pooled_day(Policy(drift_short_hours=0), bad_hours=3)
    assert [(d.recent_hours, d.decided_hours) for d in alone.drift] == [(3, 3)]
    assert alone.drift[0].p_value == pytest.approx(welch_p(np.tile(BAD, 3), np.tile(GOOD, 21)), rel=1e-9)
    assert alone.cells.set_index(["service", "task_type", "model"]).loc[
        ("search", "summarize", "gpt-4o-mini"), "scored"] == 120


def test_the_windows_tested():
    assert drift_windows(3, 1) == (1, 3)
    assert drift_windows(3, 0) == (3,)           # the short window off: the 3-hour window at the full alpha
    assert drift_windows(1, 1) == (1,)           # equal lengths are one window
