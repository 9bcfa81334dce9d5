"""The `langfuse` source on export files written in Langfuse's own columns and encodings (see langfuse_export).

Langfuse cannot run here (it needs ClickHouse, Postgres, Redis and its worker), so the files follow the export's
column lists in langfuse/langfuse at 62751446149b702b419a9292ddfc2280cdf74b8c:
packages/shared/src/domain/observation-field-groups.ts, packages/shared/src/server/queries/clickhouse-sql/
event-query-builder.ts (FIELD_SETS), packages/shared/src/server/repositories/scores.ts
(buildScoresForBlobStorageExportQuery) and worker/src/features/blobstorage/handleBlobStorageIntegrationProjectJob.ts
(file names, latency ms→s for integrations created on or after 2026-04-01).
"""

from datetime import timedelta

import pandas as pd
import pytest

from llmopt.extract.sources import open_request_source
from llmopt.extract.sources.config import SourceMapping
from llmopt.extract.sources.langfuse import LangfuseExport
from llmopt.resources import open_resources
from llmopt.rollup.lookback import columns_to_read, rollup_partition
from llmopt.rollup.partition import Partition
from tests.conftest import WINDOW_END, WINDOW_START
from tests.unit.extract.langfuse_export import observation, score, write_export

FORMATS = ["jsonl", "jsonl.gz", "csv", "parquet"]
MAPPING = SourceMapping(quality={"score": "quality"})
COLUMNS = ["request_id", "ts", "service", "task_type", "model", "prompt_tokens", "completion_tokens",
           "cached_tokens", "latency_ms", "ttft_ms", "status", "cost_usd", "quality_score"]


def at(minutes: float, seconds: float = 0.0):
    return WINDOW_START + timedelta(minutes=minutes, seconds=seconds)


def observations(unit: float = 1.0) -> list[dict]:
    """`unit` 1: latency in seconds (as written since 2026-04-01); 1000: milliseconds (older integrations)."""
    meta = {"service": "support", "task_type": "qa"}
    return [
        observation("g1", "t1", at(5), end=at(5, 1.5), ttft=at(5, 0.3), latency=1.5 * unit, metadata=meta,
                    usage={"input": 100, "input_cached_tokens": 20, "output": 50, "output_reasoning_tokens": 10,
                           "total": 180}, cost={"input": 0.001, "output": 0.002, "total": 0.003}),
        observation("g2", "t2", at(20), end=at(20, 0.8), latency=0.8 * unit, usage={"input": 10, "output": 5},
                    tags=["env=prod", "service=billing", "task=summarize"], model="gpt-4o"),
        observation("g3", "t3", at(30), end=at(30, 30), latency=30 * unit, metadata=meta, level="ERROR",
                    status_message="Request timed out after 30s", cost={"total": 0.01}),
        observation("g4", "t4", at(40), end=at(40, 0.2), latency=0.2 * unit, metadata=meta, level="ERROR",
                    status_message="429 rate limited", usage={"input": 7, "output": 0}),
        observation("s1", "t1", at(4), type="SPAN", end=at(6), latency=120 * unit, metadata=meta),
        observation("e1", "t1", at(5, 2), type="EVENT", metadata=meta),
    ]


SCORES = [score("sc1", "quality", 0.9, at(6), observation_id="g1", trace_id="t1"),
          score("sc1b", "quality", 0.2, at(6), trace_id="t1"),          # the trace's: g1's own score wins
          score("sc2", "quality", 0.4, at(21), trace_id="t2"),
          score("sc3", "quality", 0.7, at(45), observation_id="unknown-obs", trace_id="unknown-trace"),
          score("sc4", "helpfulness", 3.0, at(7), observation_id="g4", trace_id="t4")]

EXPECTED = pd.DataFrame({
    "request_id": ["g1", "g2", "g3", "g4"],
    "ts": pd.to_datetime([at(5), at(20), at(30), at(40)], utc=True),
    "service": ["support", "billing", "support", "support"],
    "task_type": ["qa", "summarize", "qa", "qa"],
    "model": ["gpt-4o-mini", "gpt-4o", "gpt-4o-mini", "gpt-4o-mini"],
    "prompt_tokens": [120, 10, 0, 7],           # every usage key containing "input" (cached included)
    "completion_tokens": [60, 5, 0, 0],
    "cached_tokens": [20.0, None, None, None],
    "latency_ms": [1500.0, 800.0, 30000.0, 200.0],
    "ttft_ms": [300.0, None, None, None],
    "status": ["ok", "ok", "timeout", "error"],
    "cost_usd": [0.003, None, None, None],      # g2: no price in Langfuse (empty cost_details); errors: null
    "quality_score": [0.9, 0.4, None, None],
})


def export(root, fmt: str, unit: float = 1.0):
    """Three hourly runs: 09:00–10:00 (a generation before the window), the window's, 11:00–12:00."""
    write_export(root, "observations_v2", WINDOW_START,
                 [observation("before", "t0", at(-30), end=at(-30, 1), latency=unit, usage={"input": 1, "output": 1},
                              metadata={"service": "support", "task_type": "qa"})], fmt)
    write_export(root, "observations_v2", WINDOW_END, observations(unit), fmt)
    write_export(root, "observations_v2", WINDOW_END + timedelta(hours=1),
                 [observation("after", "t9", at(70), end=at(70, 1), latency=unit, usage={"input": 1, "output": 1},
                              metadata={"service": "support", "task_type": "qa"})], fmt)
    write_export(root, "scores", WINDOW_END, SCORES, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_maps_to_the_same_exact_rows(tmp_path, fmt):
    export(tmp_path, fmt)
    source = LangfuseExport(str(tmp_path), mapping=MAPPING)
    got = source.read_partition(WINDOW_START, WINDOW_END, COLUMNS)
    pd.testing.assert_frame_equal(got[COLUMNS], EXPECTED, check_dtype=False, check_exact=False, rtol=1e-12)
    assert got["source_file"].str.endswith(f"proj-1/observations_v2/2026-11-20T11-00-00.{fmt}").all()
    assert got["mapping_reason"].isna().all()
    assert source.report["unmatched_scores"] == 1         # sc3 names an observation the export lacks


def test_milliseconds_exports_give_the_same_latency_and_a_misset_unit_is_named(tmp_path):
    export(tmp_path / "s", "jsonl")
    export(tmp_path / "ms", "jsonl", unit=1000.0)
    seconds = LangfuseExport(str(tmp_path / "s"), "seconds", MAPPING).read_partition(WINDOW_START, WINDOW_END, COLUMNS)
    millis = LangfuseExport(str(tmp_path / "ms"), "milliseconds", MAPPING).read_partition(WINDOW_START, WINDOW_END,
                                                                                          COLUMNS)
    pd.testing.assert_frame_equal(seconds[COLUMNS], millis[COLUMNS])
    wrong = LangfuseExport(str(tmp_path / "ms"), "seconds", MAPPING)
    wrong.read_partition(WINDOW_START, WINDOW_END, COLUMNS)
    assert wrong.report["warnings"] == ["median latency is 1150 'seconds' (over 600 s): this export writes milliseconds "
                                        "(integrations created before 2026-04-01); set source.latency_unit: milliseconds"]
    backwards = LangfuseExport(str(tmp_path / "s"), "milliseconds", MAPPING)
    backwards.read_partition(WINDOW_START, WINDOW_END, COLUMNS)
    assert "set source.latency_unit: seconds" in backwards.report["warnings"][0]
    assert LangfuseExport(str(tmp_path / "s"), "seconds", MAPPING).report["warnings"] == []


def test_fingerprints_follow_the_files_of_each_window_and_every_scores_file(tmp_path):
    export(tmp_path, "jsonl")
    source = LangfuseExport(str(tmp_path), mapping=MAPPING)
    hours = [(WINDOW_START - timedelta(hours=1), WINDOW_START), (WINDOW_START, WINDOW_END),
             (WINDOW_END, WINDOW_END + timedelta(hours=1))]
    before = source.fingerprints(hours)
    assert len(set(before)) == 3
    path = tmp_path / "proj-1" / "observations_v2" / "2026-11-20T12-00-00.jsonl"
    path.write_text(path.read_text() + path.read_text().replace('"after"', '"after-2"'))
    after = source.fingerprints(hours)
    assert after[:2] == before[:2] and after[2] != before[2]
    write_export(tmp_path, "scores", WINDOW_END + timedelta(hours=1), [score("late", "quality", 1.0, at(75),
                                                                           observation_id="g2")], "jsonl")
    late = source.fingerprints(hours)
    assert all(a != b for a, b in zip(late, after))       # a late score may be for any hour's observation
    assert source.read_partition(*hours[1], COLUMNS).set_index("request_id").loc["g2", "quality_score"] == 1.0


def test_bad_input_is_quarantined_or_skipped_with_its_reason(tmp_path, write_settings):
    settings_dir, tmp_path = tmp_path, tmp_path / "export"
    rows = observations() + [observation("neg", "t5", at(50), end=at(50, 1), latency=-2.0, usage={"input": 3},
                                         metadata={"service": "support", "task_type": "qa"}),
                             observation("nomap", "t6", at(51), end=at(51, 1), latency=1.0, usage={"input": 3})]
    path = write_export(tmp_path, "observations_v2", WINDOW_END, rows, "jsonl")
    cut = path.read_text().splitlines()[0][:150]          # a line cut short: id, type and start_time survive
    path.write_text(path.read_text() + cut + "\n")
    write_export(tmp_path, "scores", WINDOW_END, SCORES, "jsonl")
    (tmp_path / "proj-1" / "observations_v2" / "notes.json").write_text("{}")
    (tmp_path / "proj-1" / "traces").mkdir()
    (tmp_path / "proj-1" / "traces" / "2026-11-20T11-00-00.jsonl").write_text("{}\n")
    _, settings = write_settings(source={"kind": "langfuse", "path": str(tmp_path),
                                         "mapping": {"quality": {"score": "quality"}}},
                                 policy={"max_bad_row_share": 0.9})
    res = open_resources(settings)
    source = res.request_source
    rollup = rollup_partition(res, Partition(WINDOW_START, WINDOW_END), "fp")
    assert (rollup.rows_read, rollup.rows_valid, rollup.rows_quarantined) == (7, 4, 3)
    reasons = " | ".join(rollup.reasons)
    assert "line 9 is not valid JSON (cut short or corrupt) in " in reasons
    assert "service not found in the record (tried 'metadata.service' or 'tag:service='" in reasons
    assert "latency_ms" in reasons                          # the contract's rule on the negative latency
    quarantine = res.request_log.read_quarantine()
    assert set(quarantine["request_id"].dropna()) >= {"neg", "nomap"}
    assert quarantine["row_json"].str.contains("source_file").all()
    assert source.report["skipped_files"] == {
        str(tmp_path / "proj-1" / "observations_v2" / "notes.json"):
            "not a Langfuse export format (.jsonl, .csv, .parquet, optionally .gz)",
        str(tmp_path / "proj-1" / "traces" / "2026-11-20T11-00-00.jsonl"): "traces table (not a request log)"}
    assert set(columns_to_read(res)) >= set(COLUMNS)


def test_an_unreadable_parquet_file_is_skipped_and_a_mapping_spec_of_otel_is_refused(tmp_path, write_settings):
    export(tmp_path, "parquet")
    broken = tmp_path / "proj-1" / "observations_v2" / "2026-11-20T10-30-00.parquet"
    broken.write_bytes(b"PAR1 not really")
    source = LangfuseExport(str(tmp_path), mapping=MAPPING)
    got = source.read_partition(WINDOW_START, WINDOW_END, COLUMNS)
    assert list(got["request_id"]) == ["g1", "g2", "g3", "g4"]
    assert source.report["skipped_files"][str(broken)].startswith("not a readable Parquet file")
    _, settings = write_settings(source={"kind": "langfuse", "path": str(tmp_path),
                                         "mapping": {"service": "resource:service.name"}})
    with pytest.raises(ValueError, match="the langfuse source reads path, tag, const specs"):
        open_request_source(settings)


@pytest.mark.parametrize("fmt", ["jsonl.gz", "parquet"])
def test_the_same_export_on_s3_reads_identically(tmp_path, s3_endpoint, fmt):
    import boto3

    export(tmp_path, fmt)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    bucket = f"langfuse-{fmt.replace('.', '-')}"
    s3.create_bucket(Bucket=bucket)
    for path in tmp_path.rglob("*.*"):
        s3.upload_file(str(path), bucket, f"exports/{path.relative_to(tmp_path)}")
    local = LangfuseExport(str(tmp_path), mapping=MAPPING).read_partition(WINDOW_START, WINDOW_END, COLUMNS)
    remote = LangfuseExport(f"s3://{bucket}/exports", mapping=MAPPING, s3_endpoint_url=s3_endpoint)
    got = remote.read_partition(WINDOW_START, WINDOW_END, COLUMNS)
    pd.testing.assert_frame_equal(got[COLUMNS], local[COLUMNS])
    assert got["source_file"].str.startswith(f"{bucket}/exports/proj-1/observations_v2/").all()
