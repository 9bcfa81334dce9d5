"""One request log written by every kind of Parquet (and CSV) writer gives the same rollup, to the row and cent.

Each style is how a real writer types the columns: pandas (`string`, `timestamp[ns, UTC]`, `int64`, `double`, an
all-None column as Arrow `null`), pandas extension dtypes (`string` with pd.NA, categoricals, `Int64`, `Float64`),
`large_string`/`int32`/`float32`/`timestamp[us, UTC]`, dictionary-encoded strings with naive `timestamp[us]`
(Spark, DuckDB), naive `timestamp[ns]`, two files in two different styles, and CSV. The same rows go through the
real lake source, contract and partition step; the expected cells are computed from the rows themselves.
"""

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from llmopt.extract.schema import REQUEST_COLUMNS
from llmopt.extract.synthetic import generate_requests
from llmopt.resources import open_resources
from llmopt.rollup.lookback import rollup_partition
from llmopt.rollup.partition import Partition, merge_sketches, reduce_partition

START = datetime(2026, 11, 20, 10, tzinfo=timezone.utc)
PARTITION = Partition(START, START + timedelta(hours=1))
TEXT = ["request_id", "service", "task_type", "provider", "model", "status", "finish_reason", "experiment_id",
        "variant"]
INTEGERS = ["prompt_tokens", "completion_tokens", "cached_tokens", "max_tokens"]
FLOATS = ["temperature", "latency_ms", "ttft_ms", "cost_usd", "quality_score"]
# no not-null rule: each may be null in every row
NULLABLE = ["max_tokens", "temperature", "ttft_ms", "finish_reason", "cost_usd", "quality_score", "experiment_id",
            "variant"]
ABSENT = ["experiment_id", "variant", "temperature", "ttft_ms"]      # optional: a log may not have them at all
BAD = {"bad-status": {"status": "exploded"}, "bad-latency": {"latency_ms": -3.0},
       "bad-tokens": {"completion_tokens": -5}}
SUMS = ["requests", "production_requests", "errors", "timeouts", "scored", "quality_sum", "quality_sum_squares",
        "cost_usd", "cost_sum_squares", "prompt_tokens", "completion_tokens"]


def base_rows(prices, nulls: bool) -> pd.DataFrame:
    """400 good rows (every 5th shadow traffic, every 7th in an experiment) and 3 bad ones; floats exact in float32."""
    rows = generate_requests(400, hours=1, seed=3, end=START + timedelta(hours=1), prices=prices)
    rows["variant"] = np.where(np.arange(400) % 5 == 0, "shadow", None)
    rows["experiment_id"] = np.where(np.arange(400) % 7 == 0, "exp-1", None)
    rows["variant"] = rows["variant"].where(rows["variant"].notna() | (np.arange(400) % 7 != 0), "treatment")
    bad = [rows.iloc[i].to_dict() | {"request_id": name, **values} for i, (name, values) in enumerate(BAD.items())]
    rows = pd.concat([rows, pd.DataFrame(bad)], ignore_index=True).astype({c: "float64" for c in INTEGERS})
    for c in FLOATS:
        rows[c] = rows[c].astype("float32").astype("float64")
    rows[INTEGERS] = rows[INTEGERS].astype("int64")
    rows["ts"] = rows["ts"].dt.floor("us")
    if nulls:
        rows[NULLABLE] = None
    return rows[list(REQUEST_COLUMNS)]


def text_array(values: pd.Series, kind: pa.DataType) -> pa.Array:
    plain = pa.array(values.astype(object).where(values.notna(), None).tolist(), pa.string())
    return plain.dictionary_encode() if pa.types.is_dictionary(kind) else plain.cast(kind)


def typed_table(rows: pd.DataFrame, text: pa.DataType, ints: pa.DataType, floats: pa.DataType,
                ts: pa.DataType) -> pa.Table:
    """The rows with explicit Arrow types, as a writer that is not pandas types them."""
    columns = {}
    for c in rows.columns:
        values = rows[c]
        if c in TEXT:
            columns[c] = text_array(values, text)
        elif c == "ts":
            stamps = values.dt.tz_convert("UTC") if ts.tz else values.dt.tz_convert("UTC").dt.tz_localize(None)
            columns[c] = pa.array(stamps, pa.timestamp("ns", ts.tz)).cast(ts)
        else:
            kind = ints if c in INTEGERS else floats
            columns[c] = pa.array(values.astype("float64"), from_pandas=True).cast(kind)
    return pa.table(columns)


def pandas_extension(rows: pd.DataFrame) -> pa.Table:
    """pandas with its nullable dtypes; the Parquet file keeps them in its pandas metadata (read back as such)."""
    kinds = {**{c: "string" for c in TEXT}, **{c: "Int64" for c in INTEGERS}, **{c: "Float64" for c in FLOATS},
             **{c: "category" for c in ("service", "model")}}     # variant: `string`, all pd.NA (issue 20)
    typed = rows.astype({c: kind for c, kind in kinds.items() if c in rows})
    return pa.Table.from_pandas(typed, preserve_index=False)


STYLES = {
    "pandas": lambda rows: pa.Table.from_pandas(rows, preserve_index=False),
    "pandas extension dtypes": pandas_extension,
    "large_string int32 float32 us UTC": lambda rows: typed_table(
        rows, pa.large_string(), pa.int32(), pa.float32(), pa.timestamp("us", "UTC")),
    "dictionary naive us (Spark, DuckDB)": lambda rows: typed_table(
        rows, pa.dictionary(pa.int32(), pa.string()), pa.int64(), pa.float64(), pa.timestamp("us")),
    "string naive ns": lambda rows: typed_table(rows, pa.string(), pa.int64(), pa.float64(), pa.timestamp("ns")),
}


def write_lake(rows: pd.DataFrame, folder, style: str) -> None:
    hour = folder / f"date={START:%Y-%m-%d}" / f"hour={START:%H}"
    hour.mkdir(parents=True)
    if style == "csv":
        rows.to_csv(hour / "part-0.csv", index=False)
    elif style == "two files, two styles":     # the first file's types are not the second's
        pq.write_table(STYLES["pandas"](rows.iloc[::2]), hour / "part-0.parquet")
        pq.write_table(STYLES["dictionary naive us (Spark, DuckDB)"](rows.iloc[1::2]), hour / "part-1.parquet")
    else:
        pq.write_table(STYLES[style](rows), hour / "part-0.parquet")


def run_lake(write_settings, tmp_path, rows: pd.DataFrame, style: str):
    folder = tmp_path / "lake"
    write_lake(rows, folder, style)
    _, settings = write_settings(requests_path=str(folder))
    return rollup_partition(open_resources(settings), PARTITION, "fp")


def expected_cells(rows: pd.DataFrame, prices) -> pd.DataFrame:
    good = rows[~rows["request_id"].isin(list(BAD))].reset_index(drop=True)
    return reduce_partition(good, prices, 20_000)[0]


def sketch_summaries(cells: pd.DataFrame) -> list[tuple]:
    """Each cell's latency sketch: count, min and max exactly, the median to REQ's rank error (its compaction
    is randomised, so the bytes differ between two sketches of the same values)."""
    out = []
    for blob in cells["latency_sketch"]:
        sketch = merge_sketches([blob])
        out.append((sketch.n, sketch.get_min_value(), sketch.get_max_value(),
                    round(sketch.get_quantile(0.5), -2)) if sketch.n else (0,))
    return out


ALL_STYLES = [*STYLES, "two files, two styles", "csv"]


@pytest.mark.parametrize("nulls", [False, True], ids=["values", "nullable columns all null"])
@pytest.mark.parametrize("style", ALL_STYLES)
def test_every_writer_style_gives_the_same_cells(write_settings, tmp_path, prices, style, nulls):
    rows = base_rows(prices, nulls)
    rollup = run_lake(write_settings, tmp_path, rows, style)
    assert (rollup.rows_read, rollup.rows_quarantined, rollup.rows_valid) == (403, 3, 400)
    assert rollup.reasons == {"status not in {ok, error, timeout}": 1, "completion_tokens < 0": 1,
                              "latency_ms <= 0 or > 3,600,000 (an hour), or infinite": 1}
    cells = rollup.cells
    good = rows[~rows["request_id"].isin(list(BAD))]
    scored = int((good["quality_score"].notna() & (good["status"] == "ok")).sum())
    assert cells["requests"].sum() == 400 and cells["scored"].sum() == scored
    assert cells["production_requests"].sum() == (400 if nulls else 320)       # 80 shadow rows
    assert cells["errors"].sum() == int((good["status"] != "ok").sum())
    expected = expected_cells(rows, prices)
    pd.testing.assert_frame_equal(cells[["service", "task_type", "model", "provider", *SUMS]].astype({"requests": int}),
                                  expected[["service", "task_type", "model", "provider", *SUMS]].astype(
                                      {"requests": int}), check_dtype=False, rtol=1e-12)
    assert sketch_summaries(cells) == sketch_summaries(expected)
    sample = rollup.sample
    assert sorted(sample["request_id"]) == sorted(good["request_id"])
    assert str(sample["ts"].dtype) == "datetime64[ns, UTC]"
    assert all(pd.api.types.is_string_dtype(sample[c]) or sample[c].isna().all() for c in TEXT)
    assert not any(isinstance(sample[c].dtype, (pd.CategoricalDtype, pd.StringDtype)) and sample[c].dtype.na_value
                   is pd.NA for c in sample.columns)


@pytest.mark.parametrize("style", ALL_STYLES)
def test_absent_optional_columns_mean_null(write_settings, tmp_path, prices, style):
    rows = base_rows(prices, nulls=True)
    rollup = run_lake(write_settings, tmp_path, rows.drop(columns=ABSENT), style)
    assert (rollup.rows_read, rollup.rows_quarantined) == (403, 3)
    assert rollup.cells["production_requests"].sum() == 400 and rollup.cells["requests"].sum() == 400
    expected = expected_cells(rows, prices)
    np.testing.assert_allclose(rollup.cells[SUMS].to_numpy(float), expected[SUMS].to_numpy(float), rtol=1e-12)


def test_a_null_typed_ts_in_an_hours_folder_is_quarantined_not_lost(write_settings, tmp_path, prices):
    rows = base_rows(prices, nulls=False)
    table = STYLES["pandas"](rows)
    stamps = pa.array([None if i < 2 else v for i, v in enumerate(table.column("ts").to_pylist())],
                      table.schema.field("ts").type)
    folder = tmp_path / "lake" / f"date={START:%Y-%m-%d}" / f"hour={START:%H}"
    folder.mkdir(parents=True)
    pq.write_table(table.set_column(table.schema.get_field_index("ts"), "ts", stamps), folder / "part-0.parquet")
    _, settings = write_settings(requests_path=str(tmp_path / "lake"))
    res = open_resources(settings)
    half = START + timedelta(minutes=30)       # an hour split in two keeps them in its first half only
    assert res.request_source.row_counts([(START, PARTITION.end), (START, half), (half, PARTITION.end)]) == \
        [403, 2 + int((rows["ts"].iloc[2:] < half).sum()), int((rows["ts"].iloc[2:] >= half).sum())]
    rollup = rollup_partition(res, PARTITION, "fp")
    assert (rollup.rows_read, rollup.rows_quarantined) == (403, 5) and rollup.reasons["ts is null"] == 2


def test_text_read_as_dictionaries_when_one_file_lacks_a_column(write_settings, tmp_path, prices):
    """The engine gets an hour's names and labels as Arrow dictionaries (one copy of each value), and an hour whose
    second file lacks two of them (plain nulls there) still reads as one table with the same cells."""
    rows = base_rows(prices, nulls=False)
    hour = tmp_path / "lake" / f"date={START:%Y-%m-%d}" / f"hour={START:%H}"
    hour.mkdir(parents=True)
    pq.write_table(STYLES["pandas"](rows.iloc[:200]), hour / "part-0.parquet")
    pq.write_table(STYLES["pandas"](rows.iloc[200:].drop(columns=["finish_reason", "variant"])),
                   hour / "part-1.parquet")
    _, settings = write_settings(requests_path=str(tmp_path / "lake"))
    res = open_resources(settings)
    table = res.request_source.read_table(START, PARTITION.end, list(REQUEST_COLUMNS))
    assert pa.types.is_dictionary(table.schema.field("model").type)           # in both files
    assert pa.types.is_string(table.schema.field("finish_reason").type)       # plain: one file lacks it
    assert table.column("finish_reason").null_count == int(rows["finish_reason"].iloc[:200].isna().sum()) + 203
    rollup = rollup_partition(res, PARTITION, "fp")
    assert "validate + reduce" in rollup.seconds                               # the engine's pass, not pandas'
    assert (rollup.rows_read, rollup.rows_quarantined) == (403, 3)
    expected = expected_cells(rows.assign(variant=rows["variant"].where(np.arange(len(rows)) < 200, None)), prices)
    np.testing.assert_allclose(rollup.cells[SUMS].to_numpy(float), expected[SUMS].to_numpy(float), rtol=1e-12)
