"""Timestamps as real writers store them in SQLite text, on every boundary of an hour: each row is read by the
hour its UTC instant lies in, never by the one before, and nothing is quarantined for it.

Forms: SQLAlchemy's own (`.000000`), pandas/`str(datetime)` with an offset (`+00:00`), second resolution,
milliseconds, nanoseconds, `Z`, and the ISO `T` separator (JavaScript's `toISOString`, Go's RFC 3339).
"""

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from llmopt.resources import open_resources
from llmopt.rollup.lookback import quarantine_unreachable, rollup_partition
from llmopt.rollup.partition import Partition

START = datetime(2026, 11, 20, 23, tzinfo=timezone.utc)       # the hour before midnight: its end is another day
HOURS = [Partition(START + timedelta(hours=h), START + timedelta(hours=h + 1)) for h in (-1, 0, 1)]
FORMS = ["{d} {t}", "{d} {t}.000", "{d} {t}.000000", "{d} {t}.000000000", "{d} {t}+00:00", "{d} {t}.000+00:00",
         "{d} {t}.000000+00:00", "{d} {t}Z", "{d}T{t}", "{d}T{t}.000Z", "{d}T{t}+00:00", "{d}T{t}.123456+00:00"]
# (the instant's date and time, the index of the hour in HOURS it belongs to)
MOMENTS = [("2026-11-20", "22:59:59", 0), ("2026-11-20", "23:00:00", 1), ("2026-11-20", "23:59:59", 1),
           ("2026-11-21", "00:00:00", 2), ("2026-11-21", "10:30:00", 3)]     # 3: later that day, read by none
ROW = {"service": "support", "task_type": "chat", "provider": "openai", "model": "gpt-4o", "prompt_tokens": 100,
       "completion_tokens": 20, "cached_tokens": 0, "latency_ms": 800.0, "status": "ok", "quality_score": 0.9}


@pytest.fixture
def boundary_log(write_settings):
    _, settings = write_settings()
    res = open_resources(settings)
    res.request_log.ensure_tables()
    rows = []
    for f, form in enumerate(FORMS):
        for m, (day, clock, hour) in enumerate(MOMENTS):
            rows.append({**ROW, "request_id": f"r{f}-{m}", "ts": form.format(d=day, t=clock), "hour": hour})
    with res.engine.begin() as conn:
        cols = [c for c in rows[0] if c != "hour"]
        conn.execute(text(f"INSERT INTO {settings.requests_table} ({', '.join(cols)}) VALUES "
                          f"({', '.join(':' + c for c in cols)})"), rows)
    return res, rows


def test_every_form_on_every_boundary_is_read_by_its_own_hour(boundary_log):
    res, rows = boundary_log
    for index, partition in enumerate(HOURS):
        rollup = rollup_partition(res, partition, "fp")
        expected = sum(r["hour"] == index for r in rows)
        assert (rollup.rows_read, rollup.rows_quarantined) == (expected, 0), (partition.key, rollup.reasons)
    counts = res.request_source.row_counts([(p.start, p.end) for p in HOURS])
    assert counts == [len(FORMS), 2 * len(FORMS), len(FORMS)]


def test_no_form_of_a_past_hour_is_taken_for_the_future(boundary_log):
    res, _ = boundary_log
    assert quarantine_unreachable(res) == 0


def test_a_late_row_on_the_hour_changes_only_its_own_hours_fingerprint(boundary_log):
    res, _ = boundary_log
    before = res.request_source.fingerprints([(p.start, p.end) for p in HOURS])
    with res.engine.begin() as conn:
        conn.execute(text(f"INSERT INTO {res.settings.requests_table} (request_id, ts, service, task_type, model, "
                          "prompt_tokens, completion_tokens, latency_ms, status) VALUES ('late', "
                          "'2026-11-20 23:00:00+00:00', 'support', 'chat', 'gpt-4o', 1, 1, 5.0, 'ok')"))
    after = res.request_source.fingerprints([(p.start, p.end) for p in HOURS])
    assert [b == a for b, a in zip(before, after)] == [True, False, True]


def test_one_scan_gives_the_counts_and_fingerprints_of_the_two_calls(boundary_log):
    """`plan-lookback` takes both from one query per hour; they must be what the separate calls give."""
    from llmopt.extract.sources import counted_fingerprints

    res, _ = boundary_log
    windows = [(p.start, p.end) for p in HOURS]
    counts, prints = counted_fingerprints(res.request_source, windows)
    assert counts == res.request_source.row_counts(windows) == [len(FORMS), 2 * len(FORMS), len(FORMS)]
    assert prints == res.request_source.fingerprints(windows)
    assert len(set(prints)) == 3


def test_a_sliced_hour_plans_its_slices_with_the_hours_count_and_fingerprint(boundary_log):
    from llmopt.resources import Resources
    from llmopt.rollup.lookback import plan_range

    res = Resources(boundary_log[0].settings.model_copy(update={"partition_max_rows": 1_500}))
    with res.engine.begin() as conn:        # 2,024 rows in 23:xx: two 30-minute slices of ≤ 1,500
        conn.execute(text(f"INSERT INTO {res.settings.requests_table} (request_id, ts, service, task_type, model, "
                          "prompt_tokens, completion_tokens, latency_ms, status) VALUES " + ", ".join(
                              f"('bulk{i}', '2026-11-20 23:{i % 60:02d}:00', 'support', 'chat', 'gpt-4o', 1, 1, 5.0, "
                              "'ok')" for i in range(2_000))))
    partitions, prints, counts = plan_range(res, HOURS[1].start, HOURS[1].end)
    assert [p.end - p.start for p in partitions] == [timedelta(minutes=30)] * 2
    assert counts == [None, None] and prints[0] == prints[1]
    assert prints[0] == res.request_source.fingerprints([(HOURS[1].start, HOURS[1].end)])[0]


def _insert(res, rows: list[dict]) -> None:
    cols = list(rows[0])
    with res.engine.begin() as conn:
        conn.execute(text(f"INSERT INTO {res.settings.requests_table} ({', '.join(cols)}) VALUES "
                          f"({', '.join(':' + c for c in cols)})"), rows)


def test_the_two_ranges_an_hour_is_read_in_meet_exactly_and_their_column_types_unify(write_settings):
    """`read_table` reads [23:00, 23:30) and [23:30, 00:00) at once: a row on 23:30:00 in any form is read once, a
    row just before it once, and a column null in the first range but text in the second is text."""
    _, settings = write_settings()
    res = open_resources(settings)
    res.request_log.ensure_tables()
    rows = [{**ROW, "request_id": f"r{f}-{m}", "ts": form.format(d="2026-11-20", t=clock),
             "experiment_id": "exp-1" if m else None}
            for f, form in enumerate(FORMS) for m, clock in enumerate(["23:29:59", "23:30:00"])]
    rows.append({**ROW, "request_id": "just-before", "ts": "2026-11-20 23:29:59.999999+00:00", "experiment_id": None})
    _insert(res, rows)
    table = res.request_source.read_table(START, START + timedelta(hours=1), ["request_id", "ts", "experiment_id"])
    ids = table.column("request_id").to_pylist()
    assert len(ids) == len(rows) and set(ids) == {r["request_id"] for r in rows}
    assert str(table.schema.field("experiment_id").type) == "string"
    assert table.column("experiment_id").null_count == len(FORMS) + 1
    rollup = rollup_partition(res, HOURS[1], "fp")
    assert (rollup.rows_read, rollup.rows_quarantined) == (len(rows), 0)


def test_text_in_a_number_column_of_one_range_falls_back_to_the_read_that_names_it(write_settings):
    _, settings = write_settings()
    res = open_resources(settings)
    res.request_log.ensure_tables()
    _insert(res, [{**ROW, "request_id": "a", "ts": "2026-11-20 23:10:00"},
                  {**ROW, "request_id": "b", "ts": "2026-11-20 23:40:00", "prompt_tokens": "abc"}])
    assert res.request_source.read_table(START, START + timedelta(hours=1), ["request_id", "prompt_tokens"]) is None
    rollup = rollup_partition(res, HOURS[1], "fp")
    assert rollup.rows_read == 2 and rollup.rows_quarantined == 1, rollup.reasons
    assert any("prompt_tokens" in reason for reason in rollup.reasons), rollup.reasons
