"""The engine (DuckDB) against the reference path (Great Expectations on pandas + `reduce_partition`) on the same
rows: every row class of the hostile-input suite, duplicates, non-ASCII names, optional columns absent, typed nulls.

Equal: which rows are quarantined and each one's reasons (in order), the reason counts, each expectation's
unexpected count, the bad-row breach; the cells' counts exactly and their sums to 1e-9 relative; the sample's rows
and threshold exactly; latency quantiles from the sketches within the REQ rank error (2%).
"""

from datetime import datetime, timedelta, timezone

import datasketches
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from llmopt.engine.partition import _bad_rows, connect, validate_and_reduce
from llmopt.engine.prepare import PRICES_TABLE, prepare_rows, price_table
from llmopt.engine.reduce import first_key_bound
from llmopt.extract.frame_types import to_contract_frame
from llmopt.extract.schema import ROUTING_COLUMNS
from llmopt.extract.synthetic import generate_requests
from llmopt.rollup.partition import reduce_partition, sample_keys
from llmopt.validate.contract import ContractBreach, RequestContract
from llmopt.settings import BUNDLED_CONTRACTS
from tests.unit.extract.test_hostile_input import GOOD, ROW_CLASSES

START = datetime(2026, 11, 20, 10, tzinfo=timezone.utc)
WINDOW = (START, START + timedelta(hours=1))
TEXT_ONLY = {"non-numeric tokens"}          # text in a number column: Arrow cannot hold it (the pandas path reads it)


@pytest.fixture(scope="module")
def contract():
    return RequestContract(BUNDLED_CONTRACTS)


def hostile_table(prices, good_rows: int = 3000, text_ts: bool = True, drop: tuple[str, ...] = ()) -> pa.Table:
    """Good synthetic rows of the hour, one row of each hostile class, two copies of one id, non-ASCII names."""
    good = generate_requests(good_rows, hours=1, end=WINDOW[1], seed=3)
    bad = [{**GOOD, **values, "request_id": values.get("request_id", f"bad-{i}")}
           for i, (name, (values, _)) in enumerate(ROW_CLASSES.items()) if name not in TEXT_ONLY]
    bad += [{**GOOD, "request_id": "dup-1"}, {**GOOD, "request_id": "dup-1"},
            {**GOOD, "request_id": "uni-1", "service": "café-support", "task_type": "résumé"},
            {**GOOD, "request_id": "uni-2", "service": "_hidden"}]
    bad = pd.DataFrame(bad)
    bad["ts"] = bad["ts"] if text_ts else pd.to_datetime(bad["ts"], utc=True, errors="coerce", format="ISO8601")
    good["ts"] = good["ts"].dt.strftime("%Y-%m-%d %H:%M:%S.%f") if text_ts else good["ts"]
    frame = pd.concat([good, bad], ignore_index=True)
    frame = frame[[c for c in frame.columns if c not in drop]]
    frame = frame.astype({c: float for c in ("max_tokens", "cost_usd") if c in frame})
    return pa.Table.from_pandas(frame, preserve_index=False)


def both(table, contract, prices, share=0.5, sample_rows=500):
    engine = validate_and_reduce(table, contract, prices, ROUTING_COLUMNS, WINDOW, share, 100, sample_rows)
    outcome = contract.validate(to_contract_frame(table), ROUTING_COLUMNS, prices, share, WINDOW, 100)
    cells, sample, threshold = reduce_partition(outcome.valid, prices, sample_rows)
    return engine, outcome, cells, sample, threshold


@pytest.mark.parametrize("text_ts", [True, False], ids=["text ts (SQLite)", "timestamp ts (Parquet)"])
@pytest.mark.parametrize("drop", [(), ("cost_usd", "variant", "cached_tokens", "provider", "max_tokens")],
                         ids=["every column", "optional columns absent"])
def test_the_engine_quarantines_and_reduces_as_gx_on_pandas(contract, prices, text_ts, drop):
    engine, outcome, cells, sample, threshold = both(hostile_table(prices, text_ts=text_ts, drop=drop),
                                                     contract, prices)
    assert engine is not None, "the engine declined healthy-typed rows"
    reasons = lambda rows: list(zip(rows["request_id"].astype(str), rows["reason"]))   # noqa: E731
    assert reasons(engine.rejected) == reasons(outcome.rejected)
    assert len(engine.rejected) >= len(ROW_CLASSES) - len(TEXT_ONLY) + 2 - (3 if "cost_usd" in drop else 0)
    assert engine.reasons == outcome.reasons
    counts = lambda results, level: {(r["expectation"], tuple(r["columns"])): r["unexpected_count"]   # noqa: E731
                                     for r in results if r["level"] == level}
    assert counts(engine.expectation_results, "row") == counts(outcome.expectation_results, "row")
    # GX keeps one `expect_column_to_exist` of the suite's nine (it merges same-type configurations); ours lists each
    assert counts(outcome.expectation_results, "batch").items() <= counts(engine.expectation_results, "batch").items()
    assert engine.rows_read == outcome.rows_read
    ec, pc = engine.cells.drop(columns="latency_sketch"), cells.drop(columns="latency_sketch")
    assert list(ec.columns) == list(pc.columns)
    pd.testing.assert_frame_equal(ec, pc, check_dtype=False, rtol=1e-9)
    for ours_blob, ref_blob in zip(engine.cells["latency_sketch"], cells["latency_sketch"]):
        ours_q = datasketches.req_floats_sketch.deserialize(bytes(ours_blob))
        ref_q = datasketches.req_floats_sketch.deserialize(bytes(ref_blob))
        assert ours_q.n == ref_q.n
        if ref_q.n:
            for q in (0.5, 0.95, 0.99):     # REQ compacts by coin flips: two sketches of the same rows agree in rank
                if ref_q.is_estimation_mode():
                    assert ours_q.get_rank(ref_q.get_quantile(q), True) == pytest.approx(q, abs=0.02)
                else:
                    assert ours_q.get_quantile(q) == ref_q.get_quantile(q)
    assert engine.sample_threshold == threshold < 1.0
    assert list(engine.sample["request_id"]) == list(sample["request_id"])
    np.testing.assert_array_equal(engine.sample["sample_key"], sample["sample_key"])
    assert (engine.sample["ts"] == sample["ts"]).all()


def test_a_bad_row_share_above_the_limit_is_the_same_breach(contract, prices):
    table = hostile_table(prices, good_rows=100)
    with pytest.raises(ContractBreach) as ours:
        validate_and_reduce(table, contract, prices, ROUTING_COLUMNS, WINDOW, 0.05, 100, 500)
    with pytest.raises(ContractBreach) as ref:
        contract.validate(to_contract_frame(table), ROUTING_COLUMNS, prices, 0.05, WINDOW, 100)
    assert str(ours.value) == str(ref.value)
    assert "max_bad_row_share" in str(ours.value) and len(ours.value.rejected) == len(ref.value.rejected)


@pytest.mark.parametrize("column, values", [
    ("prompt_tokens", pa.array(["abc"] * 3, pa.string())),        # text in a number column
    ("service", pa.array([1, 2, 3], pa.int64())),                  # numbers in a text column
    ("completion_tokens", pa.array([1.5, 2.0, 3.0])),              # a non-whole integer
])
def test_a_mistyped_column_is_left_to_the_pandas_path_which_names_it(contract, prices, column, values):
    table = hostile_table(prices, good_rows=0).slice(0, 3)
    table = table.set_column(table.column_names.index(column), column, values)
    assert validate_and_reduce(table, contract, prices, ROUTING_COLUMNS, WINDOW, 0.5, 100, 500) is None
    with pytest.raises(ContractBreach, match=column):
        contract.validate(to_contract_frame(table), ROUTING_COLUMNS, prices, 0.5, WINDOW, 100)


@pytest.mark.parametrize("sample_rows", [500, 5000], ids=["bad rows thin the first key bound", "k above the rows"])
def test_the_sample_is_exact_when_bad_rows_thin_it_or_k_exceeds_the_rows(contract, prices, sample_rows):
    good = generate_requests(3000, hours=1, end=WINDOW[1], seed=5)
    bad = generate_requests(1500, hours=1, end=WINDOW[1], seed=6).assign(status="weird")   # not in the value set
    bad["request_id"] = "bad-" + bad["request_id"].astype(str)
    table = pa.Table.from_pandas(pd.concat([good, bad], ignore_index=True), preserve_index=False)
    engine, outcome, _, sample, threshold = both(table, contract, prices, sample_rows=sample_rows)
    assert engine.rows_quarantined == 1500 == outcome.rows_quarantined
    bound = first_key_bound(table.num_rows, sample_rows)
    if sample_rows < 3000:       # the valid rows' keys under the bound are fewer than k + 1: the exact top-k is read
        assert (sample_keys(outcome.valid["request_id"]) < bound).sum() <= sample_rows
        assert engine.sample_threshold == threshold < 1.0
    else:
        assert bound >= 1 and engine.sample_threshold == threshold == 1.0 and len(engine.sample) == 3000
    assert list(engine.sample["request_id"]) == list(sample["request_id"])
    np.testing.assert_array_equal(engine.sample["sample_key"], sample["sample_key"])



@pytest.mark.parametrize("text_ts", [True, False], ids=["text ts (SQLite)", "timestamp ts (Parquet)"])
@pytest.mark.parametrize("drop", [(), ("cost_usd", "variant", "cached_tokens", "provider", "max_tokens")],
                         ids=["every column", "optional columns absent"])
def test_an_empty_quarantine_is_the_one_the_query_of_no_bad_rows_gives(contract, prices, text_ts, drop):
    # without bad rows the quarantine is made from the prepared schema, not read: the same columns and dtypes
    good = hostile_table(prices, good_rows=300, text_ts=text_ts, drop=drop).slice(0, 300)
    con = connect()
    try:
        con.register("source_rows", good.append_column("__row", pa.array(np.arange(good.num_rows))))
        con.register(PRICES_TABLE, price_table(prices))
        prepared = prepare_rows(con, good.schema, contract.suite_json, ROUTING_COLUMNS, WINDOW)
        made, _ = _bad_rows(con, prepared, False)
        queried, reasons = _bad_rows(con, prepared, True)
    finally:
        con.close()
    assert made.empty and queried.empty and reasons == {}
    assert list(made.columns) == list(queried.columns)
    assert made.dtypes.to_dict() == queried.dtypes.to_dict()


def test_rows_in_many_batches_give_the_rollup_and_quarantine_of_one_batch(contract, prices):
    """The sample is taken batch by batch (`_take_sorted`): rows cut into 700-row batches, as a driver streams
    them, give the same sample, threshold, cells and quarantine as the rows in one batch."""
    table = hostile_table(prices, good_rows=6000).combine_chunks()
    batched = pa.Table.from_batches(table.to_batches(max_chunksize=700))
    assert len(batched.to_batches()) > 8
    one, many = (validate_and_reduce(t, contract, prices, ROUTING_COLUMNS, WINDOW, 0.5, 100, 500)
                 for t in (table, batched))
    assert many.sample_threshold == one.sample_threshold < 1
    pd.testing.assert_frame_equal(many.sample, one.sample)
    pd.testing.assert_frame_equal(many.cells.drop(columns="latency_sketch"), one.cells.drop(columns="latency_sketch"))
    sketches = [[datasketches.req_floats_sketch.deserialize(bytes(b)) for b in r.cells["latency_sketch"]]
                for r in (many, one)]
    # REQ compacts by coin flips: the same latencies give sketches of the same count and extremes
    assert [(s.n, s.get_min_value(), s.get_max_value()) for s in sketches[0]] == \
        [(s.n, s.get_min_value(), s.get_max_value()) for s in sketches[1]]
    pd.testing.assert_frame_equal(many.rejected, one.rejected)
    assert many.reasons == one.reasons and len(one.sample) == 500
