"""Rollups merge exactly: pooled cells equal the statistics of all rows, the pooled sample is uniform, quantiles hold."""

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from llmopt.domain import Window
from llmopt.extract.synthetic import generate_requests
from llmopt.fit.models import cell_statistics
from llmopt.rollup.partition import (SAMPLE_KEY, Partition, PartitionRollup, merge_sketches, plan_partitions,
                                     reduce_partition, sample_keys)
from llmopt.rollup.pool import EvidencePool, pool_evidence
from llmopt.settings import Policy
from tests.conftest import WINDOW_END


def rollups_of(frame: pd.DataFrame, prices, end, hours: int, sample_rows: int) -> list[PartitionRollup]:
    out = []
    for part in plan_partitions(end - timedelta(hours=hours), end):
        rows = frame[(frame["ts"] >= part.start) & (frame["ts"] < part.end)].reset_index(drop=True)
        cells, sample, tau = reduce_partition(rows, prices, sample_rows)
        out.append(PartitionRollup(part, "fp", cells, sample, tau, len(rows)))
    return out


@pytest.fixture(scope="module")
def day(prices):
    return generate_requests(48_000, hours=24, seed=5, end=WINDOW_END, prices=prices)


def test_partitions_are_clock_aligned_and_cover_the_span():
    parts = plan_partitions(WINDOW_END - timedelta(hours=2), WINDOW_END, minutes=15)
    assert len(parts) == 8 and parts[0].start == WINDOW_END - timedelta(hours=2) and parts[-1].end == WINDOW_END
    assert all(b.start == a.end for a, b in zip(parts, parts[1:]))
    assert parts[0].key.endswith("+15m") and Partition(WINDOW_END - timedelta(hours=1), WINDOW_END).key[-3:] == ":00"


def test_pooled_cells_equal_the_statistics_of_every_row(day, prices):
    pool = EvidencePool(Window(WINDOW_END - timedelta(hours=1), WINDOW_END), max_sample_rows=1_000_000)
    for rollup in rollups_of(day, prices, WINDOW_END, 24, sample_rows=500):
        pool.add(rollup)
    evidence = pool_evidence(pool, Policy(drift_alpha=1e-12))
    expected = cell_statistics(day, prices).set_index(["service", "task_type", "model"])
    got = evidence.cells.set_index(["service", "task_type", "model"]).loc[expected.index]
    for col in ("requests", "production_requests", "errors", "scored"):
        assert (got[col] == expected[col]).all(), col
    for col in ("quality_sum", "quality_sum_squares", "cost_usd"):
        np.testing.assert_allclose(got[col], expected[col], rtol=1e-9)
    assert evidence.rows_pooled == len(day) and evidence.lookback_hours == 24.0
    assert "pooled 24 h" in evidence.describe("search", "summarize")


def test_the_pooled_sample_is_the_bottom_k_of_the_union(day, prices):
    """Keeping key < min τ of every partition = a uniform Bernoulli(τ) sample of all 48,000 rows, bounded."""
    pool = EvidencePool(Window(WINDOW_END - timedelta(hours=1), WINDOW_END), max_sample_rows=6_000)
    for rollup in rollups_of(day, prices, WINDOW_END, 24, sample_rows=500):
        pool.add(rollup)
    evidence = pool_evidence(pool, Policy(drift_alpha=1e-12))
    keys = sample_keys(day["request_id"])
    expected = set(day.loc[keys < pool.threshold, "request_id"])
    assert set(evidence.sample["request_id"]) == expected
    # τ is bounded by the smallest partition threshold (500 of ~2,000 rows) and the 6,000-row bound
    assert pool.threshold <= 6_000 / 48_000 and 0.9 * 48_000 * pool.threshold <= len(expected) <= 6_000 * 1.1
    # uniform: every hour holds its share of the sample (±35% at ~100–300 rows per hour)
    per_hour = evidence.sample.groupby(evidence.sample["ts"].dt.floor("h")).size()
    share = day.groupby(day["ts"].dt.floor("h")).size() * pool.threshold
    assert ((per_hour / share.loc[per_hour.index]).between(0.65, 1.35)).all()
    assert evidence.sample_hours == pytest.approx(24 * pool.threshold)



def test_a_pool_whose_threshold_starts_at_the_stored_rollups_pools_the_same_evidence(day, prices):
    # a warm run lowers τ from the stored rollups' metadata before loading them (`read_rollups`)
    rollups = rollups_of(day, prices, WINDOW_END, 24, sample_rows=500)
    window = Window(WINDOW_END - timedelta(hours=1), WINDOW_END)
    plain, lowered = EvidencePool(window, max_sample_rows=6_000), EvidencePool(window, max_sample_rows=6_000)
    stored = rollups[:-3]                   # the last three are read by the run itself, after the stored ones
    lowered.lower_threshold([r.sample_threshold for r in stored], sum(r.rows_valid for r in stored))
    assert plain.threshold == 1.0 and lowered.threshold <= 6_000 / sum(r.rows_valid for r in stored)
    for rollup in rollups:
        plain.add(rollup)
    for rollup in rollups:
        below = rollup.sample[rollup.sample[SAMPLE_KEY] < lowered.threshold]     # `load(sample_below=τ)`
        lowered.add(PartitionRollup(rollup.partition, "fp", rollup.cells, below, rollup.sample_threshold,
                                    rollup.rows_read))
    assert lowered.threshold == plain.threshold
    assert lowered.held <= 1.25 * 6_000         # never above the bound, so never thinned again
    ours, theirs = (pool_evidence(p, Policy(drift_alpha=1e-12)) for p in (lowered, plain))
    pd.testing.assert_frame_equal(ours.sample, theirs.sample)
    # the same cells (the latency quantiles aside: REQ merges compact by coin flips, so no two merges agree exactly)
    exact = [c for c in theirs.cells.columns if not c.startswith("latency_p")]
    pd.testing.assert_frame_equal(ours.cells[exact], theirs.cells[exact])


def test_req_sketch_merges_to_the_exact_tail_within_one_percent_and_the_median_within_one_percent_rank():
    rng = np.random.default_rng(0)
    parts = [rng.lognormal(7.0, 0.6, 20_000) for _ in range(12)]
    frames = [pd.DataFrame({"request_id": [f"{i}-{j}" for j in range(len(x))], "service": "s", "task_type": "t",
                            "model": "gpt-4o", "provider": "openai", "status": "ok", "quality_score": np.nan,
                            "cost_usd": 0.0, "prompt_tokens": 1, "completion_tokens": 1, "cached_tokens": 0,
                            "latency_ms": x}) for i, x in enumerate(parts)]

    class Free:
        @staticmethod
        def fill_cost(frame):
            return frame["cost_usd"]

    blobs = [reduce_partition(f, Free, 100)[0]["latency_sketch"].iloc[0] for f in frames]
    merged, exact = merge_sketches(blobs), np.concatenate(parts)
    # REQ compacts by coin flips: at the median it promises ~1% rank error (a 1.5% value error on this lognormal;
    # 30 runs: at most 0.8% rank), in the tail far less, which p95/p99 to 1% of the value holds
    assert merged.get_rank(np.quantile(exact, 0.5)) == pytest.approx(0.5, abs=0.01)
    for q in (0.95, 0.99):
        assert merged.get_quantile(q) == pytest.approx(np.quantile(exact, q), rel=0.01), q


def test_sample_keys_are_stable_and_uniform():
    ids = pd.Series([f"req-{i}" for i in range(100_000)])
    keys = sample_keys(ids)
    assert np.array_equal(keys, sample_keys(ids.copy())) and keys.min() >= 0 and keys.max() < 1
    assert abs(np.mean(keys < 0.1) - 0.1) < 0.003            # 3σ of a binomial share at n = 100,000


def test_per_service_lookback_pools_only_its_hours(day, prices):
    pool = EvidencePool(Window(WINDOW_END - timedelta(hours=1), WINDOW_END), max_sample_rows=1_000_000)
    for rollup in rollups_of(day, prices, WINDOW_END, 24, sample_rows=100_000):
        pool.add(rollup)
    policy = Policy(drift_alpha=1e-12, services={"search": {"lookback_hours": 6}})
    evidence = pool_evidence(pool, policy)
    recent = day[day["ts"] >= WINDOW_END - timedelta(hours=6)]
    assert evidence.cells.loc[evidence.cells["service"] == "search", "requests"].sum() == \
        (recent["service"] == "search").sum()
    assert evidence.cells.loc[evidence.cells["service"] == "support", "requests"].sum() == \
        (day["service"] == "support").sum()
    search_ts = evidence.sample.loc[evidence.sample["service"] == "search", "ts"]
    assert search_ts.min() >= WINDOW_END - timedelta(hours=6)
    assert set(evidence.cells.loc[evidence.cells["service"] == "search", "hours"]) == {6.0}


def test_drift_guard_decides_on_the_recent_hours_when_a_model_degrades(day, prices):
    """gpt-4o's quality on summarize drops by 0.15 in the last 3 hours: the task is pooled over those 3 hours alone."""
    degraded = day.copy()
    late = (degraded["ts"] >= WINDOW_END - timedelta(hours=3)) & (degraded["model"] == "gpt-4o") \
        & (degraded["task_type"] == "summarize")
    degraded.loc[late, "quality_score"] = (degraded.loc[late, "quality_score"] - 0.15).clip(0, 1)
    pool = EvidencePool(Window(WINDOW_END - timedelta(hours=1), WINDOW_END), max_sample_rows=1_000_000)
    for rollup in rollups_of(degraded, prices, WINDOW_END, 24, sample_rows=100_000):
        pool.add(rollup)
    evidence = pool_evidence(pool, Policy(drift_short_hours=0))    # the 3-hour window alone (both: test_drift.py)
    found = [(d.service, d.task_type, d.model, d.metric) for d in evidence.drift]
    assert found == [("search", "summarize", "gpt-4o", "quality")]
    cells = evidence.cells.set_index(["service", "task_type", "model"])
    recent = degraded[degraded["ts"] >= WINDOW_END - timedelta(hours=3)]
    assert cells.loc[("search", "summarize", "gpt-4o-mini"), "requests"] == \
        ((recent["task_type"] == "summarize") & (recent["model"] == "gpt-4o-mini")).sum()
    assert cells.loc[("search", "summarize", "gpt-4o-mini"), "hours"] == 3.0
    assert cells.loc[("support", "classify_ticket", "gpt-4o"), "hours"] == 24.0   # other tasks keep the day
    assert "decided on the last 3 h alone" in evidence.describe("search", "summarize")


def test_no_drift_is_found_in_a_stationary_day(day, prices):
    pool = EvidencePool(Window(WINDOW_END - timedelta(hours=1), WINDOW_END), max_sample_rows=1_000_000)
    for rollup in rollups_of(day, prices, WINDOW_END, 24, sample_rows=100_000):
        pool.add(rollup)
    assert pool_evidence(pool, Policy()).drift == []


def test_a_large_hour_is_split_into_clock_aligned_slices():
    from llmopt.rollup.lookback import split_partition

    hour = Partition(WINDOW_END - timedelta(hours=1), WINDOW_END)
    assert split_partition(hour, 250_000, 250_000) == [hour]
    assert [p.end - p.start for p in split_partition(hour, 1_000_000, 250_000)] == [timedelta(minutes=15)] * 4
    assert len(split_partition(hour, 600_000, 250_000)) == 3                      # 20-minute slices
    assert len(split_partition(hour, 10_000_000, 250_000)) == 12                  # never below 5 minutes
