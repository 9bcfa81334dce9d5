"""Every class of hostile or broken input, written into a real SQLite request log as a user's pipeline would
(SQLite keeps whatever is inserted), then read, validated and reduced by the real partition step.

Each row class is quarantined with its named reason and the partition goes on; each table-level class is one
error naming the column or setting. Nothing is silently dropped: read = valid + quarantined, always.
"""

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from sqlalchemy import text

from llmopt.extract.synthetic import generate_requests
from llmopt.resources import open_resources
from llmopt.rollup.lookback import plan_lookback, quarantine_unreachable, rollup_partition
from llmopt.rollup.partition import Partition
from llmopt.domain import Window
from llmopt.validate.contract import ContractBreach

START = datetime(2026, 11, 20, 10, tzinfo=timezone.utc)
PARTITION = Partition(START, START + timedelta(hours=1))
GOOD = {"request_id": "bad-1", "ts": "2026-11-20 10:30:00.000000", "service": "support", "task_type": "chat",
        "provider": "openai", "model": "gpt-4o", "prompt_tokens": 100, "completion_tokens": 20, "cached_tokens": 0,
        "max_tokens": 256, "temperature": 0.7, "latency_ms": 800.0, "ttft_ms": 200.0, "status": "ok",
        "finish_reason": "stop", "cost_usd": None, "quality_score": 0.9}

ROW_CLASSES = {   # class: (column values that make the row bad, the reason it must be quarantined with)
    "null request_id": ({"request_id": None}, "request_id is null"),
    "negative tokens": ({"completion_tokens": -5}, "completion_tokens < 0"),
    "non-numeric tokens": ({"completion_tokens": "abc"}, "completion_tokens is not a number"),
    "cached > prompt tokens": ({"cached_tokens": 500}, "cached_tokens > prompt_tokens"),
    "zero latency": ({"latency_ms": 0.0}, "latency_ms <= 0 or > 3,600,000 (an hour), or infinite"),
    "negative latency": ({"latency_ms": -3.0}, "latency_ms <= 0 or > 3,600,000 (an hour), or infinite"),
    "NaN latency": ({"latency_ms": None}, "latency_ms is null"),
    "infinite latency": ({"latency_ms": float("inf")}, "latency_ms <= 0 or > 3,600,000 (an hour), or infinite"),
    "absurd latency 1e12": ({"latency_ms": 1e12}, "latency_ms <= 0 or > 3,600,000 (an hour), or infinite"),
    "quality above 1": ({"quality_score": 1.5}, "quality_score outside [0, 1]"),
    "quality below 0": ({"quality_score": -0.1}, "quality_score outside [0, 1]"),
    "unknown status": ({"status": "exploded"}, "status not in {ok, error, timeout}"),
    "malformed ts in the hour": ({"ts": "2026-11-20 10:99:00"}, "ts is null"),
    "non-UTC offset": ({"ts": "2026-11-20 10:30:00-05:00"},
                       "ts is outside the hour it is stored under (store ts in UTC)"),
    "unknown model, no price": ({"model": "mystery-9000"}, "no price for model mystery-9000 and cost_usd is null"),
    "empty model": ({"model": ""}, "model is empty"),
    "null model": ({"model": None}, "model is null"),
    "empty service": ({"service": ""}, "service is not a safe name (letters, digits, '.', '_', '-'; at most 128; "
                                       "it becomes a store key)"),
    "null service": ({"service": None}, "service is null"),
    "temperature 50": ({"temperature": 50.0}, "temperature outside [0, 2]"),
    "max_tokens 0": ({"max_tokens": 0}, "max_tokens < 1"),
    "negative ttft": ({"ttft_ms": -1.0}, "ttft_ms < 0"),
    "100 kB model": ({"model": "m" * 100_000}, "model is longer than 256 characters"),
    "100 kB service": ({"service": "s" * 100_000}, "service is not a safe name (letters, digits, '.', '_', '-'; "
                                                   "at most 128; it becomes a store key)"),
    "SQL-injection-like service": ({"service": "x'; DROP TABLE llm_requests; --"},
                                   "service is not a safe name (letters, digits, '.', '_', '-'; at most 128; "
                                   "it becomes a store key)"),
    "path-like task": ({"task_type": "../../etc"}, "task_type is not a safe name (letters, digits, '.', '_', "
                                                   "'-'; at most 128; it becomes a store key)"),
}


@pytest.fixture
def log(write_settings, prices):
    _, settings = write_settings()
    res = open_resources(settings)
    clean = generate_requests(400, hours=1, seed=3, end=START + timedelta(hours=1), prices=prices)
    res.request_log.append(clean)
    return res


def insert(res, **values):
    row = {**GOOD, **values}
    cols = ", ".join(row)
    with res.engine.begin() as conn:
        conn.execute(text(f"INSERT INTO {res.settings.requests_table} ({cols}) VALUES "
                          f"({', '.join(':' + c for c in row)})"), row)


@pytest.mark.parametrize("name", list(ROW_CLASSES))
def test_each_bad_row_class_is_quarantined_with_its_reason(log, name):
    values, reason = ROW_CLASSES[name]
    insert(log, **values)
    rollup = rollup_partition(log, PARTITION, "fp")
    assert rollup.rows_read == 401 and rollup.rows_quarantined == 1, rollup.reasons
    assert rollup.reasons == {reason: 1}
    stored = pd.read_sql(text(f"SELECT reason FROM {log.settings.quarantine_table}"), log.engine)
    assert stored["reason"].tolist() == [reason]


def test_a_duplicate_request_id_quarantines_both_copies(log):
    insert(log, request_id="twice")
    insert(log, request_id="twice", latency_ms=900.0)
    rollup = rollup_partition(log, PARTITION, "fp")
    assert rollup.reasons == {"request_id is duplicated": 2} and rollup.rows_read == 402


def test_non_ascii_names_are_accepted(log):
    insert(log, service="søk", task_type="résumé")
    rollup = rollup_partition(log, PARTITION, "fp")
    assert rollup.rows_quarantined == 0 and "søk" in set(rollup.cells["service"])


@pytest.mark.parametrize("ts", ["2099-01-01 00:00:00", "yesterday"])
def test_a_future_or_non_timestamp_ts_no_window_reads_is_quarantined(log, ts):
    insert(log, ts=ts)
    assert quarantine_unreachable(log) == 1
    stored = pd.read_sql(text(f"SELECT reason FROM {log.settings.quarantine_table}"), log.engine)
    assert stored["reason"].tolist() == ["ts is in the future or not a timestamp"]


def test_a_bad_row_share_above_the_limit_refuses_the_hour_naming_the_reasons(log):
    for i in range(30):
        insert(log, request_id=f"bad-{i}", status="exploded")
    with pytest.raises(ContractBreach, match=r"max_bad_row_share failed \(7\.0% of rows .* > 5\.0%; top reasons: "
                                             r"status not in \{ok, error, timeout\} ×30\)"):
        rollup_partition(log, PARTITION, "fp")


def test_a_renamed_column_is_one_error_naming_it(log):
    with log.engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {log.settings.requests_table} RENAME COLUMN latency_ms TO latency"))
    with pytest.raises(ContractBreach, match=r"latency_ms: expect_column_to_exist failed \(column not found\)"):
        rollup_partition(log, PARTITION, "fp")


def test_a_missing_table_names_the_setting(write_settings):
    _, settings = write_settings(requests_table="llm_requestz")
    res = open_resources(settings)
    res.request_log.engine.connect().close()
    with pytest.raises(LookupError, match="requests_table 'llm_requestz' not found"):
        plan_lookback(res, Window(START, START + timedelta(hours=1)))


def test_an_empty_window_reads_nothing_and_is_not_an_error(log):
    rollup = rollup_partition(log, Partition(START - timedelta(hours=5), START - timedelta(hours=4)), "fp")
    assert (rollup.rows_read, rollup.rows_quarantined) == (0, 0)


def test_one_stray_row_alone_in_its_hour_is_quarantined_and_stops_nothing(log):
    """The stray row is 100% of its hour, but one row is no share: judged only on bad_row_share_min_rows (100)."""
    earlier = Partition(START - timedelta(hours=1), START)
    insert(log, request_id="stray", ts="2026-11-20 09:30:00.000000", status="exploded")
    rollup = rollup_partition(log, earlier, "fp")
    assert (rollup.rows_read, rollup.rows_quarantined, rollup.excluded) == (1, 1, None)
    assert rollup.reasons == {"status not in {ok, error, timeout}": 1}


def test_a_breach_in_an_earlier_hour_leaves_it_out_of_the_evidence_by_name(log, prices):
    """An earlier hour of the lookback that breaches is excluded (named), the window's own hour still decides."""
    earlier = Partition(START - timedelta(hours=1), START)
    log.request_log.append(generate_requests(200, hours=1, seed=4, end=START, prices=prices))
    for i in range(40):
        insert(log, request_id=f"bad-{i}", ts="2026-11-20 09:30:00.000000", status="exploded")
    window = Window(START, START + timedelta(hours=1))
    rollup = rollup_partition(log, earlier, "fp", window)
    assert (rollup.rows_read, rollup.rows_quarantined) == (240, 40) and rollup.cells.empty
    assert rollup.excluded.startswith("<table>: max_bad_row_share failed (16.7% of rows")
    with pytest.raises(ContractBreach, match=r"^window 2026-11-20T09:00:00\+00:00/2026-11-20T10:00:00\+00:00: "
                                             r"data contract breached: <table>: max_bad_row_share"):
        rollup_partition(log, earlier, "fp", Window(earlier.start, earlier.end))

    from llmopt.rollup.pool import EvidencePool, pool_evidence
    pool = EvidencePool(window, 10_000)
    pool.add(rollup)
    pool.add(rollup_partition(log, PARTITION, "fp", window))
    log.rollup_store.save(rollup)
    assert log.rollup_store.load(earlier, "fp").excluded == rollup.excluded     # the next run names it again
    evidence = pool_evidence(pool, log.settings.policy)
    assert evidence.excluded == [("2026-11-20T09:00", rollup.excluded)]
    assert evidence.rows_pooled == 400          # only the window's rows
