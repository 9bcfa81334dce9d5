"""The boundary's type mapping on its own: exact dtypes and values, and the kinds it uses are the suite's."""

import json

import numpy as np
import pandas as pd
import pyarrow as pa

from llmopt.extract.frame_types import COLUMN_KINDS, conform_frame, to_contract_frame, with_absent_as_null
from llmopt.prices import PriceMap
from llmopt.rollup.partition import reduce_partition
from llmopt.settings import BUNDLED_CONTRACTS, BUNDLED_PRICES


def test_the_kinds_are_the_suites_column_types():
    suite = json.loads((BUNDLED_CONTRACTS / "llm_requests.suite.json").read_text())
    kinds = suite["meta"]["column_types"]
    assert {c: COLUMN_KINDS[c] for c in kinds} == kinds


def test_arrow_columns_of_every_writer_read_as_the_contracts_dtypes():
    table = pa.table({
        "request_id": pa.array(["a", None, "c"], pa.large_string()),
        "model": pa.array(["m", "m", None]).dictionary_encode(),
        "variant": pa.nulls(3),
        "ts": pa.array([0, 3_600_000_000, None], pa.timestamp("us")),        # naive: taken as UTC
        "prompt_tokens": pa.array([1, 2, 3], pa.int32()),
        "completion_tokens": pa.array([1, None, 3], pa.int32()),
        "cached_tokens": pa.array([0.0, 2.0, 1.0], pa.float32()),            # whole floats: an integer column
        "max_tokens": pa.array([1.5, 2.0, None]),                            # not whole: left for the contract
        "latency_ms": pa.array([1, 2, 3], pa.int64()),
        "quality_score": pa.array([0.5, None, 0.25], pa.float32()),
        "source_file": pa.array(["f", "f", "f"], pa.large_string()),
    })
    frame = to_contract_frame(table)
    assert {c: str(t) for c, t in frame.dtypes.items()} == {
        "request_id": "str", "model": "str", "variant": "str", "ts": "datetime64[ns, UTC]",
        "prompt_tokens": "int64", "completion_tokens": "float64", "cached_tokens": "int64", "max_tokens": "float64",
        "latency_ms": "float64", "quality_score": "float64", "source_file": "str"}
    assert frame["request_id"].isna().tolist() == [False, True, False] and frame["variant"].isna().all()
    assert frame["ts"].tolist()[:2] == [pd.Timestamp("1970-01-01", tz="UTC"),
                                        pd.Timestamp("1970-01-01 01:00", tz="UTC")]
    assert frame["cached_tokens"].tolist() == [0, 2, 1] and frame["quality_score"].tolist()[::2] == [0.5, 0.25]


def test_pandas_nullable_dtypes_become_plain_and_absent_optional_columns_null():
    frame = pd.DataFrame({"variant": pd.array([pd.NA, "shadow"], dtype="string"),
                          "model": pd.Categorical(["m", None]), "prompt_tokens": pd.array([3, 4], dtype="Int64"),
                          "completion_tokens": pd.array([1, pd.NA], dtype="Int64"),
                          "latency_ms": pd.array([1.5, pd.NA], dtype="Float64"), "service": ["s", "t"]},
                         index=[7, 9])
    plain = with_absent_as_null(conform_frame(frame), ["experiment_id", "variant", "status"])
    assert {c: str(t) for c, t in plain.dtypes.items()} == {
        "variant": "str", "model": "str", "prompt_tokens": "int64", "completion_tokens": "float64",
        "latency_ms": "float64", "service": "str", "experiment_id": "str"}
    assert plain.index.tolist() == [7, 9] and plain["prompt_tokens"].tolist() == [3, 4]
    assert np.isnan(plain["completion_tokens"].iloc[1]) and plain["experiment_id"].isna().all()
    assert conform_frame(plain) is plain                 # already plain: nothing copied


def test_reduce_partition_counts_a_nullable_string_variant():
    """Issue 20: `variant` as pandas `string`, all pd.NA, crashed `astype(int)`; null is production traffic."""
    rows = pd.DataFrame({"request_id": ["a", "b", "c"], "service": "s", "task_type": "t", "model": "gpt-4o",
                         "provider": "openai", "status": pd.array(["ok", "error", "timeout"], dtype="string"),
                         "variant": pd.array([pd.NA, "shadow", pd.NA], dtype="string"), "quality_score": 0.5,
                         "cost_usd": 0.01, "prompt_tokens": 10, "completion_tokens": 5, "cached_tokens": 0,
                         "latency_ms": 100.0})
    cells, _, _ = reduce_partition(rows, PriceMap.from_file(BUNDLED_PRICES), 100)
    counts = cells[["requests", "production_requests", "errors", "timeouts", "scored"]].iloc[0].tolist()
    assert counts == [3, 2, 2, 1, 1]
