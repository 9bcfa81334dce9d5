"""Langfuse blob-storage export files for tests, in the export's own columns and encodings.

Columns: `observations_v2` as the events export selects them with every field group
(packages/shared/src/domain/observation-field-groups.ts: OBSERVATION_FIELD_GROUPS_FULL;
packages/shared/src/server/queries/clickhouse-sql/event-query-builder.ts: FIELD_SETS core, basic, time, io, metadata,
model_export, usage, prompt, metrics, trace_context, tools) plus the price enrichment (input_price, output_price,
total_price: worker/src/features/blobstorage/handleBlobStorageIntegrationProjectJob.ts::enrichObservationStream);
`scores` as packages/shared/src/server/repositories/scores.ts::buildScoresForBlobStorageExportQuery selects them.
langfuse/langfuse at commit 62751446149b702b419a9292ddfc2280cdf74b8c (2026-08-22).
Encodings: ClickHouse JSONEachRow (UInt64 map values quoted, DateTime64 as `YYYY-MM-DD hh:mm:ss.ffffff`),
CSV via transformStreamToCsv (every cell quoted, objects as JSON, null as ""), Parquet as ClickHouse's
FORMAT Parquet (maps, lists, timestamps). File names `{project}/{table}/{maxTimestamp:%Y-%m-%dT%H-%M-%S}.{ext}`.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import datetime

import pyarrow as pa
import pyarrow.parquet as pq

V2_COLUMNS = ("id", "trace_id", "start_time", "end_time", "project_id", "parent_observation_id", "type",
              "name", "level", "status_message", "version", "environment", "bookmarked", "public", "user_id",
              "session_id", "is_root_observation", "completion_start_time", "created_at", "updated_at",
              "input", "output", "metadata", "provided_model_name", "model_id", "model_parameters",
              "usage_details", "cost_details", "total_cost", "usage_pricing_tier_id", "usage_pricing_tier_name",
              "prompt_id", "prompt_name", "prompt_version", "latency", "time_to_first_token", "tags", "release",
              "trace_name", "tool_definitions", "tool_calls", "tool_call_names", "input_price", "output_price",
              "total_price")
SCORE_COLUMNS = ("id", "timestamp", "project_id", "environment", "trace_id", "observation_id", "session_id",
                 "dataset_run_id", "name", "value", "source", "comment", "data_type", "string_value", "created_at",
                 "updated_at")
MAPS = {"metadata": pa.map_(pa.string(), pa.string()), "usage_details": pa.map_(pa.string(), pa.uint64()),
        "cost_details": pa.map_(pa.string(), pa.float64()), "tool_definitions": pa.map_(pa.string(), pa.string())}
LISTS = ("tags", "tool_calls", "tool_call_names")
TIMES = ("start_time", "end_time", "completion_start_time", "created_at", "updated_at", "timestamp")


def ch_time(ts: datetime | None) -> str | None:
    return None if ts is None else ts.strftime("%Y-%m-%d %H:%M:%S.%f")


def observation(id, trace_id, start, *, type="GENERATION", end=None, ttft=None, level="DEFAULT", status_message="",
                model="gpt-4o-mini", usage=None, cost=None, metadata=None, tags=(), latency=None) -> dict:
    """One observations_v2 row as the exporter emits it (`latency` in the unit given, None: from start/end)."""
    row = dict.fromkeys(V2_COLUMNS)
    row.update(id=id, trace_id=trace_id, start_time=start, end_time=end, project_id="proj-1",
               parent_observation_id="", type=type, name="chat", level=level, status_message=status_message,
               version="", environment="production", bookmarked=False, public=False, user_id="u-1",
               session_id="", is_root_observation=False, completion_start_time=ttft, created_at=start,
               updated_at=start, input='{"messages":[{"role":"user","content":"hi"}]}', output='"hello"',
               metadata=metadata or {}, provided_model_name=model, model_id="", model_parameters="{}",
               usage_details=usage or {}, cost_details=cost or {}, total_cost=(cost or {}).get("total", 0.0),
               usage_pricing_tier_id=None, usage_pricing_tier_name=None, prompt_id="", prompt_name="",
               prompt_version=None, latency=latency, time_to_first_token=None, tags=list(tags), release="",
               trace_name="support-bot", tool_definitions={}, tool_calls=[], tool_call_names=[],
               input_price=None, output_price=None, total_price=None)
    return row


def score(id, name, value, ts, *, observation_id=None, trace_id=None, data_type="NUMERIC") -> dict:
    row = dict.fromkeys(SCORE_COLUMNS)
    row.update(id=id, timestamp=ts, project_id="proj-1", environment="production", trace_id=trace_id,
               observation_id=observation_id, session_id=None, dataset_run_id=None, name=name, value=value,
               source="API", comment=None, data_type=data_type, string_value=None, created_at=ts, updated_at=ts)
    return row


def _json_row(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        if k in TIMES:
            v = ch_time(v)
        elif k == "usage_details":      # ClickHouse quotes UInt64 in JSON
            v = {key: str(n) for key, n in v.items()}
        out[k] = v
    return out


def encode(rows: list[dict], fmt: str, columns: tuple[str, ...]) -> bytes:
    """The bytes of one export file of `rows` in `fmt` (jsonl, jsonl.gz, csv, csv.gz, parquet)."""
    if fmt.startswith("jsonl"):
        data = "".join(json.dumps(_json_row(r)) + "\n" for r in rows).encode()
    elif fmt.startswith("csv"):
        buffer = io.StringIO()
        writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(columns)
        for r in rows:
            j = _json_row(r)
            writer.writerow(["" if j[c] is None else j[c] if isinstance(j[c], str) else json.dumps(j[c])
                             for c in columns])
        data = buffer.getvalue().encode()
    else:
        arrays = {}
        for c in columns:
            values = [r[c] for r in rows]
            if c in MAPS:
                arrays[c] = pa.array([list(v.items()) for v in values], MAPS[c])
            elif c in LISTS:
                arrays[c] = pa.array(values, pa.list_(pa.string()))
            elif c in TIMES:
                arrays[c] = pa.array(values, pa.timestamp("us", "UTC"))
            else:
                arrays[c] = pa.array(values)
        sink = io.BytesIO()
        pq.write_table(pa.table(arrays), sink)
        return sink.getvalue()
    return gzip.compress(data) if fmt.endswith(".gz") else data


def write_export(root, table: str, max_ts: datetime, rows: list[dict], fmt: str, project: str = "proj-1"):
    """Write `rows` as the export run ending at `max_ts` writes them; returns the file's path."""
    columns = SCORE_COLUMNS if table == "scores" else V2_COLUMNS
    folder = root / project / table
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{max_ts:%Y-%m-%dT%H-%M-%S}.{fmt}"
    path.write_bytes(encode(rows, fmt, columns))
    return path
