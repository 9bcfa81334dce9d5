"""`llmopt sources check` on real logs: a SQLite table with hostile rows, a Parquet lake lacking columns, a missing
file. The real contract judges the window; the check writes nothing (the quarantine table stays empty)."""

import json
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import text

from llmopt.cli import main
from llmopt.domain import Window, last_complete_hour
from llmopt.extract.feedback import FeedbackLog
from llmopt.extract.lake_source import LakeRequestLog
from llmopt.extract.sources.check import check_source
from llmopt.extract.synthetic import generate_requests
from llmopt.resources import open_resources
from llmopt.validate.contract import RequestContract

START = datetime(2026, 11, 20, 10, tzinfo=timezone.utc)
END = START + timedelta(hours=1)
WINDOW = ["--start", START.isoformat(), "--end", END.isoformat()]
BAD = {"request_id": "bad-1", "ts": "2026-11-20 10:30:00.000000", "service": "support", "task_type": "chat",
       "provider": "openai", "model": "gpt-4o", "prompt_tokens": 100, "completion_tokens": -5, "latency_ms": 800.0,
       "status": "ok"}
NEGATIVE = "completion_tokens < 0"
STATUS = "status not in {ok, error, timeout}"


def insert(res, **values):
    row = {**BAD, **values}
    with res.engine.begin() as conn:
        conn.execute(text(f"INSERT INTO {res.settings.requests_table} ({', '.join(row)}) VALUES "
                          f"({', '.join(':' + c for c in row)})"), row)


def sql_log(write_settings, prices, **overrides):
    path, settings = write_settings(**overrides)
    res = open_resources(settings)
    clean = generate_requests(400, hours=1, seed=3, end=END, prices=prices)
    res.request_log.append(clean)
    return path, res, clean


def check(path, capsys, *args):
    code = main(["--config", str(path), "sources", "check", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_sql_window_counts_reasons_fields_and_feedback_without_writing(write_settings, prices, capsys):
    path, res, clean = sql_log(write_settings, prices, strategies=["routing", "cascade", "max_tokens"],
                               feedback={"table": "llm_feedback"})
    insert(res)                                                   # completion_tokens −5
    insert(res, request_id="bad-2", completion_tokens=20, status="exploded")
    feedback = FeedbackLog.create_table(res.engine, "llm_feedback")
    unscored = clean.loc[clean["quality_score"].isna(), "request_id"].iloc[:2].tolist()
    with res.engine.begin() as conn:       # two scores for requests of the window, one for a request elsewhere
        conn.execute(feedback.insert(), [{"request_id": rid, "name": "thumbs", "value": 1.0,
                                          "ts": START + timedelta(minutes=70)} for rid in [*unscored, "req-other"]])

    code, out, err = check(path, capsys, *WINDOW)
    assert (code, err) == (0, "")
    assert "rows          402 read, 400 mapped, 2 quarantined" in out
    assert f"quarantined ×1: {NEGATIVE}" in out and f"quarantined ×1: {STATUS}" in out
    assert "e.g. bad-1: completion_tokens < 0" in out
    assert f"source        sql: table llm_requests at {res.settings.database_url}" in out
    assert "contract      passed" in out
    assert "will not run  cascade: needs prompt_id, confidence, which the source lacks" in out
    assert "max_tokens:" not in out                     # finish_reason and max_tokens are logged
    scored = int(clean["quality_score"].notna().sum()) + 2      # the two joined scores fill unscored rows
    assert f"quality       {scored} of 400 mapped rows ({scored / 400:.1%}) have a quality_score" in out
    assert "feedback      2 of 400 mapped rows (0.5%) joined a feedback score" in out

    code, out, _ = check(path, capsys, *WINDOW, "--json")
    body = json.loads(out)
    assert code == 0
    assert (body["rows_read"], body["rows_mapped"], body["rows_quarantined"]) == (402, 400, 2)
    assert body["quarantine_reasons"] == {NEGATIVE: 1, STATUS: 1}
    assert [r["request_id"] for r in body["rejected_examples"]] == ["bad-1", "bad-2"]
    assert body["fields"]["service"] == "column service" and body["absent_columns"] == []
    assert body["null_columns"] == ["experiment_id", "variant"]       # in the table, null in every generated row
    assert [c for c in clean.columns if clean[c].isna().all()] == ["experiment_id", "variant"]
    assert len(body["sample"]) == 5 and {r["request_id"] for r in body["sample"]} <= set(clean["request_id"])
    assert (body["quality_scored"], body["feedback_joined"]) == (scored, 2)
    assert body["strategies_not_run"] == {"cascade": "needs prompt_id, confidence, which the source lacks"}
    assert (body["start"], body["end"]) == (START.isoformat(), END.isoformat())
    assert res.request_log.read_quarantine().empty       # a check writes nothing


def test_breach_prints_the_report_then_one_error_line_and_exits_1(write_settings, prices, capsys):
    path, res, _ = sql_log(write_settings, prices)
    for i in range(30):                    # 30 / 430 = 7.0% > max_bad_row_share 5%
        insert(res, request_id=f"bad-{i}")
    code, out, err = check(path, capsys, *WINDOW)
    assert code == 1
    assert "rows          430 read, 0 mapped, 30 quarantined" in out
    assert f"quarantined ×30: {NEGATIVE}" in out
    assert "contract      breached: window 2026-11-20T10:00:00+00:00/2026-11-20T11:00:00+00:00: data contract " \
           "breached: <table>: max_bad_row_share failed (7.0% of rows broke" in out
    assert err.count("\n") == 1 and err.startswith("llmopt: error: ContractBreach: window 2026-11-20T10:00:00")
    assert res.request_log.read_quarantine().empty       # a run would have quarantined the 30 rows; a check does not


def lake_frame(prices, end, rows=300):
    frame = generate_requests(rows, hours=1, seed=5, end=end, prices=prices)
    return frame.drop(columns=["variant", "experiment_id", "ttft_ms", "provider"])


def test_lake_default_window_shows_absent_columns(write_settings, prices, tmp_path, capsys):
    hour = last_complete_hour()
    frame = lake_frame(prices, hour + timedelta(hours=1))
    frame.loc[0, "latency_ms"] = -3.0
    lake = tmp_path / "lake"
    lake.mkdir()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), lake / "requests.parquet")
    path, settings = write_settings(source={"kind": "lake", "path": str(lake), "format": "parquet"})

    code, out, _ = check(path, capsys, "--json")       # no --start/--end: the last complete hour
    body = json.loads(out)
    assert code == 0
    assert (body["start"], body["end"]) == (hour.isoformat(), (hour + timedelta(hours=1)).isoformat())
    assert (body["kind"], body["location"]) == ("lake", f"{lake} (parquet)")
    assert (body["rows_read"], body["rows_mapped"], body["rows_quarantined"]) == (300, 299, 1)
    assert body["absent_columns"] == ["ttft_ms", "experiment_id", "variant"]
    assert body["fields"]["ttft_ms"] == "absent (null)" and body["fields"]["model"] == "column model"
    assert body["fields"]["provider"] == "derived from model (price map)"
    assert body["rejected_examples"][0]["source_file"] == str(lake / "requests.parquet")
    assert not (tmp_path / "requests.db").exists()       # a lake check opens no database

    code, out, _ = check(path, capsys)
    assert "absent        ttft_ms, experiment_id, variant (null in every row)" in out
    assert f"in {lake / 'requests.parquet'}: latency_ms <= 0" in out


class DescribedLake(LakeRequestLog):
    """A real lake source that also says where its fields come from, as the mapped sources will."""

    def describe_fields(self) -> dict[str, str]:
        return {"service": "model_group (alias support/chat)", "variant": "resource:service.name"}


def test_a_source_describes_its_own_fields(prices, tmp_path):
    from llmopt.settings import Settings

    settings = Settings()
    lake = tmp_path / "lake"
    lake.mkdir()
    pq.write_table(pa.Table.from_pandas(lake_frame(prices, END, rows=50), preserve_index=False), lake / "a.parquet")
    source = DescribedLake(str(lake), "parquet")
    result = check_source(source, source.present_columns(), RequestContract(settings.contracts_dir), prices,
                          settings.policy, Window(START, END), {}, "lake", str(lake))
    assert result.fields["service"] == "model_group (alias support/chat)"
    assert result.fields["variant"] == "resource:service.name"        # the source's word, not "absent"
    assert result.fields["task_type"] == "column task_type"           # not described: from the columns
    assert result.absent_columns == ["ttft_ms", "experiment_id"]
    assert (result.rows_read, result.rows_mapped) == (50, 50)


def test_missing_sqlite_file_exits_1_with_one_line_and_creates_nothing(write_settings, tmp_path, capsys):
    missing = tmp_path / "nowhere" / "requests.db"
    path, _ = write_settings(database_url=f"sqlite:///{missing}")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    code, out, err = check(path, capsys, *WINDOW)
    assert (code, out) == (1, "")
    assert err == f"llmopt: error: LookupError: database_url sqlite:///{missing}: no SQLite file at {missing} " \
                  "(llmopt reads the request log there and does not create it)\n"
    assert sorted(p.name for p in tmp_path.rglob("*")) == before and not missing.parent.exists()
