"""The `litellm` source on what LiteLLM 1.106.0 itself writes: its Router (mock responses, a mock
InternalServerError, a mock timeout) with the real `s3_v2` logger on a moto S3 server, the same objects in a local
folder, hostile files beside them, and the proxy's `LiteLLM_SpendLogs` table on PostgreSQL."""

import json
import math
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from llmopt.domain import Window
from llmopt.extract.sources import open_request_source
from llmopt.resources import open_resources
from llmopt.rollup.lookback import plan_lookback, rollup_partition

PRODUCER = Path(__file__).parents[3] / "gateways" / "litellm_s3_producer.py"
COLUMNS = ["request_id", "ts", "service", "task_type", "provider", "model", "prompt_tokens", "completion_tokens",
           "cached_tokens", "max_tokens", "temperature", "latency_ms", "ttft_ms", "status", "finish_reason", "cost_usd"]
# per call of the producer, in order: (service, task, model, status, prompt, completion, cached, max_tokens, temp)
EXPECTED = [("assist", "summarize", "gpt-4o-mini", "ok", 10, 20, None, 64, 0.2),
            ("assist", "summarize", "gpt-4o-mini", "ok", 10, 20, None, 128, None),
            ("assist", "extract", "gpt-4o", "ok", 1200, 40, 1024, None, 0.0),
            ("assist", "classify", "gpt-4o-mini", "error", 0, 0, None, 8, None),
            ("assist", "draft", "gpt-4o-mini", "timeout", 0, 0, None, None, None),
            ("billing", "reply", "gpt-4o-mini", "ok", 10, 20, None, None, None)]
# LiteLLM's bundled cost map, USD per token: gpt-4o-mini 0.15e-6 in / 0.6e-6 out; gpt-4o 2.5e-6 in, 1.25e-6 cached
# in, 10e-6 out. Mock usage: 10 + 20 tokens; the cached call 1200 prompt (1024 cached) + 40.
COSTS = [10 * 0.15e-6 + 20 * 0.6e-6] * 2 + [176 * 2.5e-6 + 1024 * 1.25e-6 + 40 * 10e-6, None, None,
                                            10 * 0.15e-6 + 20 * 0.6e-6]


@pytest.fixture(scope="module")
def logged(litellm_python, s3_endpoint, tmp_path_factory):
    """The objects LiteLLM wrote (bucket `litellm-logs`, prefix `litellm`), a local copy, and their payloads in
    call order (read with json here, not with the source)."""
    out = subprocess.run([str(litellm_python), str(PRODUCER), s3_endpoint, "litellm-logs", "litellm"], check=True,
                         capture_output=True, text=True, timeout=300).stdout
    ids = json.loads(out.splitlines()[-1])
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket="litellm-logs", Prefix="litellm")["Contents"])
    folder = tmp_path_factory.mktemp("litellm-folder")
    payloads = []
    for key in keys:
        body = client.get_object(Bucket="litellm-logs", Key=key)["Body"].read()
        (folder / key).parent.mkdir(parents=True, exist_ok=True)
        (folder / key).write_bytes(body)
        payloads.append(json.loads(body))
    payloads.sort(key=lambda p: p["startTime"])
    assert len(payloads) == 6 and [p["id"] for p in payloads if p["status"] == "success"] == [i for i in ids if i]
    return {"keys": keys, "folder": folder / "litellm", "payloads": payloads}


def window_of(payloads) -> tuple[datetime, datetime]:
    first = datetime.fromtimestamp(min(p["startTime"] for p in payloads), timezone.utc)
    start = first.replace(minute=0, second=0, microsecond=0)
    last = datetime.fromtimestamp(max(p["startTime"] for p in payloads), timezone.utc)
    return start, last.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def assert_mapped(frame: pd.DataFrame, payloads) -> None:
    frame = frame.sort_values("ts").reset_index(drop=True)
    assert frame["request_id"].tolist() == [p["id"] for p in payloads]
    for row, p, expected, cost in zip(frame.itertuples(), payloads, EXPECTED, COSTS):
        service, task, model, status, prompt, completion, cached, max_tokens, temperature = expected
        assert (row.service, row.task_type, row.model, row.provider, row.status) == (service, task, model, "openai",
                                                                                      status)
        assert (row.prompt_tokens, row.completion_tokens) == (prompt, completion)
        for value, want in ((row.cached_tokens, cached), (row.max_tokens, max_tokens), (row.temperature, temperature),
                            (row.cost_usd, cost)):
            assert (math.isnan(value) if want is None else value == pytest.approx(want, abs=1e-12))
        assert row.ts == pd.Timestamp(p["startTime"], unit="s", tz="UTC").round("us")
        assert row.latency_ms == pytest.approx((p["endTime"] - p["startTime"]) * 1000, abs=1e-6)
        if status == "ok":
            assert row.ttft_ms == pytest.approx((p["completionStartTime"] - p["startTime"]) * 1000, abs=1e-6)
            assert row.finish_reason == "stop"
        else:
            assert math.isnan(row.ttft_ms) and pd.isna(row.finish_reason)
    assert frame["latency_ms"].iloc[4] >= 200           # the mock timeout sleeps its 0.2 s deployment timeout
    assert frame["mapping_reason"].isna().all()


def test_s3_objects_map_to_the_contract_and_roll_up(logged, s3_endpoint, write_settings):
    _, settings = write_settings(source={"kind": "litellm", "path": "s3://litellm-logs/litellm"},
                                 s3_endpoint_url=s3_endpoint, policy={"lookback_hours": 1})
    source = open_request_source(settings)
    start, end = window_of(logged["payloads"])
    assert source.row_counts([(start, end)]) == [6]
    assert_mapped(source.read_partition(start, end, COLUMNS), logged["payloads"])
    # an hour before: nothing, and another fingerprint
    assert len(source.read_partition(start - timedelta(hours=1), start, COLUMNS)) == 0
    assert source.fingerprints([(start - timedelta(hours=1), start)]) != source.fingerprints([(start, end)])
    rollups = rolled_up(settings, start, end)
    assert (sum(r.rows_read for r in rollups), sum(r.rows_quarantined for r in rollups)) == (6, 0)
    assert sum(int(r.cells["requests"].sum()) for r in rollups) == 6


def rolled_up(settings, start, end):
    """The rollups of the hours [start, end) (one, unless the calls straddled an hour)."""
    res = open_resources(settings)
    plan = plan_lookback(res, Window(start, end))
    return [rollup_partition(res, p, f, Window(start, end)) for p, f in zip(plan.partitions, plan.fingerprints)]


def test_a_local_copy_reads_the_same(logged, write_settings):
    _, settings = write_settings(source={"kind": "litellm", "path": str(logged["folder"])})
    start, end = window_of(logged["payloads"])
    frame = open_request_source(settings).read_partition(start, end, COLUMNS)
    assert_mapped(frame, logged["payloads"])
    assert sorted(Path(f).name for f in frame["source_file"]) == sorted(k.rpartition("/")[2] for k in logged["keys"])


def test_a_truncated_object_is_quarantined_and_a_stray_file_skipped(logged, tmp_path, write_settings):
    folder = tmp_path / "litellm"
    shutil.copytree(logged["folder"], folder)
    day = next(folder.iterdir())
    truncated = sorted(day.iterdir())[0]
    truncated.write_bytes(truncated.read_bytes()[:500])          # cut mid-object, as an interrupted copy leaves it
    (day / "notes.txt").write_text("not a log")
    (folder / "export.parquet").write_bytes(b"PAR1")
    _, settings = write_settings(source={"kind": "litellm", "path": str(folder)}, policy={"lookback_hours": 1})
    source = open_request_source(settings)
    start, end = window_of(logged["payloads"])
    frame = source.read_partition(start, end, COLUMNS).sort_values("request_id", na_position="first")
    bad = frame[frame["mapping_reason"].notna()]
    name_id = truncated.name.split("_", 1)[1].removesuffix(".json")
    assert bad["request_id"].tolist() == [name_id] and bad["source_file"].tolist() == [str(truncated)]
    assert bad["mapping_reason"].iloc[0].startswith("not valid JSON: ")       # then json's own message
    assert len(frame) == 6 and frame["status"].notna().sum() == 5
    assert sorted(source.skipped) == sorted([str(folder / "export.parquet"), str(day / "notes.txt")])
    rollups = rolled_up(settings, start, end)
    assert [sum(getattr(r, n) for r in rollups) for n in ("rows_read", "rows_quarantined", "rows_valid")] == [6, 1, 5]
    assert [reason for r in rollups for reason in r.reasons] == [bad["mapping_reason"].iloc[0]]


# LiteLLM 1.106.0 litellm/proxy/schema.prisma, `model LiteLLM_SpendLogs` (prisma: DateTime → timestamp(3),
# Json → jsonb, Float → double precision, Int → integer)
SPEND_LOGS_DDL = """CREATE TABLE "LiteLLM_SpendLogs" (
  request_id text PRIMARY KEY, call_type text NOT NULL, api_key text NOT NULL DEFAULT '',
  spend double precision NOT NULL DEFAULT 0.0, total_tokens integer NOT NULL DEFAULT 0,
  prompt_tokens integer NOT NULL DEFAULT 0, completion_tokens integer NOT NULL DEFAULT 0,
  "startTime" timestamp(3) NOT NULL, "endTime" timestamp(3) NOT NULL, request_duration_ms integer,
  "completionStartTime" timestamp(3), model text NOT NULL DEFAULT '', model_id text DEFAULT '',
  model_group text DEFAULT '', custom_llm_provider text DEFAULT '', api_base text DEFAULT '', "user" text DEFAULT '',
  metadata jsonb DEFAULT '{}', cache_hit text DEFAULT '', cache_key text DEFAULT '', request_tags jsonb DEFAULT '[]',
  team_id text, organization_id text, end_user text, requester_ip_address text, messages jsonb DEFAULT '{}',
  response jsonb DEFAULT '{}', session_id text, status text, mcp_namespaced_tool_name text, billing_agent_id text,
  agent_id text, proxy_server_request jsonb DEFAULT '{}', litellm_call_id text,
  created_at timestamp(3) NOT NULL DEFAULT now(), updated_at timestamp(3) NOT NULL DEFAULT now())"""


def spend_row(request_id, start, seconds, status, model_group, spend, tokens, metadata, model="gpt-4o-mini"):
    """A row as `spend_tracking_utils.get_logging_payload` writes it (status and error also in metadata)."""
    return {"request_id": request_id, "call_type": "acompletion", "spend": spend, "prompt_tokens": tokens[0],
            "completion_tokens": tokens[1], "total_tokens": sum(tokens), "startTime": start,
            "endTime": start + timedelta(seconds=seconds), "completionStartTime": start + timedelta(seconds=seconds),
            "model": model, "model_group": model_group, "custom_llm_provider": "openai", "status": status,
            "metadata": json.dumps({"status": status, **metadata}), "request_duration_ms": int(seconds * 1000)}


def test_spend_logs_rows_map_to_the_contract(postgres_url, write_settings):
    engine = create_engine(postgres_url)
    hour = datetime(2026, 11, 20, 10)
    rows = [
        spend_row("r-ok", hour + timedelta(minutes=5), 0.75, "success", "assist/summarize", 1.35e-5, (10, 20),
                  {"additional_usage_values": {"cache_read_input_tokens": 6}, "error_information": None}),
        spend_row("r-err", hour + timedelta(minutes=6), 0.25, "failure", "assist/classify", 0.0, (0, 0),
                  {"error_information": {"error_class": "InternalServerError", "error_code": "500"}}),
        spend_row("r-timeout", hour + timedelta(minutes=7), 30.0, "failure", "assist/draft", 0.0, (0, 0),
                  {"error_information": {"error_class": "Timeout", "error_code": "408"}}),
        spend_row("r-meta", hour + timedelta(minutes=59, seconds=59), 1.5, "success", "gpt-4o-mini", 2e-5, (40, 5),
                  {"spend_logs_metadata": {"service": "billing", "task": "reply"}}),
        spend_row("r-next", hour + timedelta(hours=1), 1.0, "success", "assist/summarize", 1e-5, (1, 1), {}),
    ]
    with engine.begin() as conn:
        conn.execute(text('DROP TABLE IF EXISTS "LiteLLM_SpendLogs"'))
        conn.execute(text(SPEND_LOGS_DDL))
        conn.execute(text('INSERT INTO "LiteLLM_SpendLogs" (request_id, call_type, spend, prompt_tokens, '
                          'completion_tokens, total_tokens, "startTime", "endTime", "completionStartTime", model, '
                          'model_group, custom_llm_provider, status, metadata, request_duration_ms) VALUES '
                          '(:request_id, :call_type, :spend, :prompt_tokens, :completion_tokens, :total_tokens, '
                          ':startTime, :endTime, :completionStartTime, :model, :model_group, :custom_llm_provider, '
                          ':status, CAST(:metadata AS jsonb), :request_duration_ms)'), rows)
    _, settings = write_settings(database_url=postgres_url,
                                 source={"kind": "litellm", "spend_logs_table": "LiteLLM_SpendLogs"})
    source = open_request_source(settings)
    start, end = hour.replace(tzinfo=timezone.utc), (hour + timedelta(hours=1)).replace(tzinfo=timezone.utc)
    assert source.row_counts([(start, end), (end, end + timedelta(hours=1))]) == [4, 1]
    frame = source.read_partition(start, end, COLUMNS).sort_values("ts").reset_index(drop=True)
    assert frame["request_id"].tolist() == ["r-ok", "r-err", "r-timeout", "r-meta"]
    assert frame["status"].tolist() == ["ok", "error", "timeout", "ok"]
    assert frame["service"].tolist() == ["assist", "assist", "assist", "billing"]
    assert frame["task_type"].tolist() == ["summarize", "classify", "draft", "reply"]
    assert frame["latency_ms"].tolist() == [750.0, 250.0, 30000.0, 1500.0]
    assert frame["ttft_ms"].iloc[[0, 3]].tolist() == [750.0, 1500.0] and frame["ttft_ms"].iloc[1:3].isna().all()
    assert frame["cost_usd"].iloc[[0, 3]].tolist() == [1.35e-5, 2e-5] and frame["cost_usd"].iloc[1:3].isna().all()
    assert frame["cached_tokens"].iloc[0] == 6 and frame["cached_tokens"].iloc[1:].isna().all()
    assert frame["ts"].iloc[3] == pd.Timestamp("2026-11-20T10:59:59", tz="UTC")
    before = source.fingerprints([(start, end)])
    with engine.begin() as conn:        # an edit moves updated_at: the hour's fingerprint changes
        conn.execute(text('UPDATE "LiteLLM_SpendLogs" SET spend = 2e-5, updated_at = now() + interval \'1 second\' '
                          "WHERE request_id = 'r-ok'"))
    assert source.fingerprints([(start, end)]) != before
