"""Parquet and CSV request logs on local disk: file, folder, glob and hive layouts; pruning; fingerprints."""

import os
from datetime import timedelta

import pandas as pd
import pytest

from llmopt.extract.lake_source import SOURCE_FILE, LakeRequestLog
from llmopt.extract.synthetic import generate_requests
from llmopt.rollup.partition import Partition, PartitionRollup
from llmopt.rollup.store import RollupStore
from tests.conftest import WINDOW_END, WINDOW_START

COLUMNS = ["request_id", "ts", "service", "model", "latency_ms", "quality_score"]


@pytest.fixture(scope="module")
def three_hours(prices):
    return generate_requests(6_000, hours=3, seed=3, end=WINDOW_END, prices=prices)


def write_hive(frame: pd.DataFrame, root, fmt: str = "parquet") -> None:
    for hour, rows in frame.groupby(frame["ts"].dt.floor("h")):
        folder = root / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}"
        folder.mkdir(parents=True, exist_ok=True)
        if fmt == "parquet":
            rows.to_parquet(folder / "part-0.parquet", index=False)
        else:
            rows.to_csv(folder / "part-0.csv", index=False)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_hive_layout_reads_exactly_the_window_with_the_file_of_each_row(tmp_path, three_hours, fmt):
    write_hive(three_hours, tmp_path, fmt)
    log = LakeRequestLog(str(tmp_path))
    got = log.read_partition(WINDOW_START, WINDOW_END, COLUMNS + ["no_such_column"])
    expected = three_hours[three_hours["ts"] >= WINDOW_START]
    assert sorted(got["request_id"]) == sorted(expected["request_id"])
    assert list(got.columns) == COLUMNS + [SOURCE_FILE]
    assert got[SOURCE_FILE].str.contains(f"hour={WINDOW_START:%H}/part-0.{fmt}", regex=False).all()
    assert set(log.present_columns()) >= set(COLUMNS)


def test_flat_file_and_glob_filter_on_ts(tmp_path, three_hours):
    (tmp_path / "logs").mkdir()
    three_hours.iloc[:3000].to_parquet(tmp_path / "logs" / "a.parquet", index=False)
    three_hours.iloc[3000:].to_parquet(tmp_path / "logs" / "b.parquet", index=False)
    (tmp_path / "logs" / "notes.txt").write_text("not data")
    half = WINDOW_START + timedelta(minutes=30)
    expected = three_hours[(three_hours["ts"] >= WINDOW_START) & (three_hours["ts"] < half)]
    for path in (tmp_path / "logs" / "*.parquet", tmp_path / "logs" / "b.parquet"):
        got = LakeRequestLog(str(path)).read_partition(WINDOW_START, half, COLUMNS)
        wanted = expected if "*" in str(path) else expected[expected["request_id"].isin(three_hours.iloc[3000:]["request_id"])]
        assert sorted(got["request_id"]) == sorted(wanted["request_id"])
    one = tmp_path / "one.csv"
    three_hours.to_csv(one, index=False)
    got = LakeRequestLog(str(one)).read_partition(WINDOW_START, half, COLUMNS)
    assert sorted(got["request_id"]) == sorted(expected["request_id"])


def test_a_late_file_changes_only_the_fingerprint_of_its_hour(tmp_path, three_hours):
    write_hive(three_hours, tmp_path)
    log = LakeRequestLog(str(tmp_path))
    hours = [(WINDOW_END - timedelta(hours=h), WINDOW_END - timedelta(hours=h - 1)) for h in (3, 2, 1)]
    before = log.fingerprints(hours)
    assert len(set(before)) == 3
    late = three_hours[three_hours["ts"] < WINDOW_END - timedelta(hours=2)].head(5).assign(
        request_id=lambda f: "late-" + f["request_id"])
    late.to_parquet(tmp_path / f"date={hours[0][0]:%Y-%m-%d}" / f"hour={hours[0][0]:%H}" / "late.parquet", index=False)
    after = log.fingerprints(hours)
    assert after[0] != before[0] and after[1:] == before[1:]


def test_a_missing_path_names_the_setting(tmp_path):
    with pytest.raises(FileNotFoundError, match="requests_path"):
        LakeRequestLog(str(tmp_path / "nowhere")).present_columns()


def test_rollup_store_round_trip_and_a_cut_short_write_is_not_found(tmp_path, three_hours, prices):
    from llmopt.rollup.partition import reduce_partition

    store = RollupStore(str(tmp_path / "rollups"))
    part = Partition(WINDOW_START, WINDOW_END)
    rows = three_hours[three_hours["ts"] >= WINDOW_START].reset_index(drop=True)
    cells, sample, tau = reduce_partition(rows, prices, 500)
    store.save(PartitionRollup(part, "fp-1", cells, sample, tau, len(rows), 0, {"x": 1}))
    back = store.load(part, "fp-1")
    assert back.reused and back.rows_read == len(rows) and back.reasons == {"x": 1} and back.sample_threshold == tau
    pd.testing.assert_frame_equal(back.cells.drop(columns="latency_sketch"), cells.drop(columns="latency_sketch"))
    assert len(back.sample) == 500 and store.load(part, "fp-2") is None      # input changed → recompute
    os.remove(tmp_path / "rollups" / part.key / "meta.json")                # a write cut short before its metadata
    assert store.load(part, "fp-1") is None and store.keys() == [part.key]
