"""The `litellm` source: LiteLLM's `s3_v2`/`s3` logger objects (on S3 or in a folder), or its proxy's spend logs.

Each object is one `StandardLoggingPayload` (`litellm/types/utils.py`); the fields are mapped in DuckDB
(`litellm_mapping`), over the objects' raw text, so nothing is parsed in a Python loop per request. An object that
does not parse is one quarantined row (its id from the object's name); a file that is not a LiteLLM object name is
not read, and is named in `skipped` and the log.
"""

from __future__ import annotations

import gzip
import logging
from datetime import datetime
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import fs as pafs

from llmopt.domain import utc
from llmopt.extract.filesystems import open_filesystem
from llmopt.extract.frame_types import conform_table, to_contract_frame
from llmopt.extract.sources import SOURCE_FILE, register
from llmopt.extract.sources.litellm_mapping import MAPPED_FIELDS, OUTPUT_EXTRA, contract_sql, field_specs, spec_sql
from llmopt.extract.sources.litellm_names import LoggedObject, days_of, list_day_folders, parse_name
from llmopt.extract.sources.objects import ObjectFiles, fingerprint_files
from llmopt.validate.contract import MAPPING_REASON

log = logging.getLogger(__name__)
PRESENT = ["request_id", "ts", "service", "task_type", "provider", "model", "prompt_tokens", "completion_tokens",
           "cached_tokens", "max_tokens", "temperature", "latency_ms", "ttft_ms", "status", "finish_reason",
           "cost_usd", "experiment_id", "variant"]
# the payload's values `raw` needs (litellm_mapping.contract_sql), in one json_extract_string: one parse per object
PAYLOAD_PATHS = {
    "request_id": "$.id", "start_s": "$.startTime", "end_s": "$.endTime",
    "completion_start_s": "$.completionStartTime", "status": "$.status",
    "error_class": "$.error_information.error_class", "provider_raw": "$.custom_llm_provider",
    "model_raw": "$.model", "model_group": "$.model_group", "cost": "$.response_cost",
    "cost_debug": "$.response_cost_failure_debug_info", "prompt_tokens": "$.prompt_tokens",
    "completion_tokens": "$.completion_tokens",
    "cached": "$.metadata.usage_object.prompt_tokens_details.cached_tokens",
    "cache_read": "$.metadata.usage_object.cache_read_input_tokens",
    "max_tokens": "$.model_parameters.max_tokens", "max_completion": "$.model_parameters.max_completion_tokens",
    "temperature": "$.model_parameters.temperature", "finish_reason": "$.response.choices[0].finish_reason",
}


@register("litellm")
def open_litellm(config, settings, engine):
    """The spend log table when `spend_logs_table` is set, else the logger objects under `path`."""
    if config.spend_logs_table:
        from llmopt.extract.sources.litellm_spend_logs import SpendLogs

        return SpendLogs(settings.database_url, config.spend_logs_table, config.mapping, engine=engine)
    if not config.path:
        raise ValueError("source.path: set it to the s3_v2 logger's s3://bucket/s3_path (or a folder), "
                         "or set source.spend_logs_table")
    return LitellmObjects(config.path, config.mapping, settings.s3_endpoint_url, config.object_time_zone)


class LitellmObjects:
    """The objects of LiteLLM's S3 loggers under `path`, read one window at a time.

    Args:
        path: `s3://bucket/<s3_path>` or a folder holding the same layout.
        mapping: `source.mapping` (service, task_type, … from the payload; defaults in `litellm_mapping`).
        s3_endpoint_url: for S3-compatible stores.
        object_time_zone: the clock of the process that named the objects (LiteLLM names them in local time).
    """

    def __init__(self, path: str, mapping, s3_endpoint_url: str | None = None, object_time_zone: str = "UTC"):
        self.objects = ObjectFiles(path, (".json", ".jsonl"), s3_endpoint_url)
        self.filesystem, self.root = open_filesystem(path, s3_endpoint_url)
        self.specs = field_specs(mapping)
        self.explicit = {f for f in ("service", "task_type") if getattr(mapping, f)}
        self.zone = ZoneInfo(object_time_zone)
        self.skipped: dict[str, str] = {}       # path → why it was not read (kept across calls, logged once)

    def _objects(self, windows: list[tuple[datetime, datetime]]) -> list[LoggedObject]:
        files, others = list_day_folders(self.filesystem, self.root, days_of(windows))
        found = []
        for f in files:
            named = parse_name(f, self.zone)
            if named is None:
                others.append(f.path)
            else:
                found.append(named)
        for path in others:
            if path not in self.skipped:
                self.skipped[path] = "not a LiteLLM s3 logger object (time-…_<id>.json or batch_….jsonl)"
                log.warning("source.path: skipped %s: %s", path, self.skipped[path])
        return found

    def _in(self, windows):
        objects = self._objects(windows)
        return [[o for o in objects if o.in_window(utc(s), utc(e))] for s, e in windows]

    def _read(self, files) -> list[bytes]:
        """The objects' bytes: a local folder is read with plain file reads (several times faster than pyarrow's
        stream per small file), S3 through ObjectFiles' concurrent GETs."""
        if not isinstance(self.filesystem, pafs.LocalFileSystem):
            return self.objects.read(files)
        out = []
        for f in files:
            with open(f.path, "rb") as handle:
                data = handle.read()
            out.append(gzip.decompress(data) if f.path.endswith(".gz") else data)
        return out

    def present_columns(self) -> list[str]:
        """The contract columns a StandardLoggingPayload gives (quality_score when a score is mapped)."""
        return PRESENT + (["quality_score"] if self.specs["quality"] is not None else [])

    def describe_fields(self) -> dict[str, str]:
        """Where each contract column comes from in a StandardLoggingPayload (for `llmopt sources check`)."""
        def mapped(field: str) -> str:
            spec = self.specs.get(field)
            return spec.text if spec else "absent (null)"
        alias = "model_group when it is an llmopt alias <service>/<task_type>, else "
        out = {"request_id": "id", "ts": "startTime", "latency_ms": "endTime − startTime",
               "ttft_ms": "completionStartTime − startTime", "status": "status + error_information.error_class",
               "provider": "custom_llm_provider", "model": "model (provider/ prefix removed)",
               "prompt_tokens": "prompt_tokens", "completion_tokens": "completion_tokens",
               "cached_tokens": "metadata.usage_object.prompt_tokens_details.cached_tokens",
               "max_tokens": "model_parameters.max_tokens", "temperature": "model_parameters.temperature",
               "finish_reason": "response.choices[0].finish_reason", "cost_usd": "response_cost (null on failure)",
               "service": (mapped("service") if "service" in self.explicit else alias + mapped("service")),
               "task_type": (mapped("task_type") if "task_type" in self.explicit else alias + mapped("task_type")),
               "experiment_id": mapped("experiment_id"), "variant": mapped("variant"),
               "quality_score": mapped("quality")}
        return out

    def row_counts(self, windows: list[tuple[datetime, datetime]]) -> list[int]:
        """Per window, the objects named in it (one request each); a batch counts at ~4 kB a request."""
        return [sum(max(1, o.file.size // 4096) if o.batch else int(utc(s) <= o.named_at < utc(e)) for o in chosen)
                for (s, e), chosen in zip(windows, self._in(windows))]

    def fingerprints(self, windows: list[tuple[datetime, datetime]]) -> list[str]:
        """Per window, a digest of the objects it reads (path, size, modification time)."""
        return [fingerprint_files([o.file for o in chosen]) for chosen in self._in(windows)]

    def read_partition(self, start: datetime, end: datetime, columns: list[str]) -> pd.DataFrame:
        """The requests that started in [start, end), plus quarantine rows for objects that did not parse."""
        return to_contract_frame(self.read_table(start, end, columns))

    def read_table(self, start: datetime, end: datetime, columns: list[str]) -> pa.Table:
        """`read_partition` as Arrow, for the columnar engine."""
        start, end = utc(start), utc(end)
        chosen = self._in([(start, end)])[0]
        texts = self._read([o.file for o in chosen])
        table = map_payloads(chosen, texts, self.specs, self.explicit, start, end)
        wanted = [c for c in columns if c in table.column_names]
        return conform_table(table.select(wanted + [c for c in OUTPUT_EXTRA if c in table.column_names]))


def map_payloads(objects: list[LoggedObject], texts: list[bytes], specs, explicit, start: datetime,
                 end: datetime) -> pa.Table:
    """The contract frame of objects' payloads (JSON lines for a batch), rows of [start, end) only."""
    docs = pa.table({
        "j": pa.array([t.decode("utf-8", "replace") for t in texts], pa.string()),
        "batch": pa.array([o.batch for o in objects], pa.bool_()),
        SOURCE_FILE: pa.array([o.file.path for o in objects], pa.string()),
        "name_id": pa.array([o.name_id for o in objects], pa.string()),
        "name_ts": pa.array([o.named_at for o in objects], pa.timestamp("us", "UTC")),
    })
    # every path in one json_extract_string: each object is parsed once (a path spec of the mapping included)
    fields = (*MAPPED_FIELDS, "quality")
    extra = {f"{f}_path": specs[f].json_path() for f in fields if specs[f] is not None and specs[f].kind == "path"}
    extra["tags"] = "$.request_tags"
    names = [*PAYLOAD_PATHS, *extra]
    paths = [*PAYLOAD_PATHS.values(), *extra.values()]
    mapped = {f: f"v[{names.index(f + '_path') + 1}]" if f"{f}_path" in extra
              else spec_sql(specs[f], "j", f"v[{names.index('tags') + 1}]") for f in fields}
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("docs", docs)
    raw = f"""
    WITH lines AS (
      SELECT j, false AS batch, {SOURCE_FILE}, name_id, name_ts FROM docs WHERE NOT batch
      UNION ALL
      SELECT unnest(string_split(trim(j, chr(10)), chr(10))) AS j, true AS batch, {SOURCE_FILE}, NULL, name_ts
      FROM docs WHERE batch),
    parsed AS (SELECT *, try(json_extract_string(j, {paths!r})) AS v FROM lines)
    SELECT coalesce(v[1], CASE WHEN v IS NULL THEN name_id END) AS request_id,
           {", ".join(f"v[{i + 1}] AS {name}" for i, name in enumerate(PAYLOAD_PATHS) if i)},
           {", ".join(f"{sql} AS {field}_m" for field, sql in mapped.items())},
           CASE WHEN v IS NULL THEN 'not valid JSON' END AS json_error, j, batch, {SOURCE_FILE}, name_ts
    FROM parsed"""
    con.execute(f"CREATE TEMP TABLE raw0 AS {raw}")
    _warn_if_names_disagree(con)
    con.execute("""CREATE TEMP VIEW raw AS SELECT * EXCLUDE (cost_debug, cached, cache_read, max_completion, j, batch),
        coalesce(cached, cache_read) AS cached_tokens, coalesce(max_tokens, max_completion) AS max_tokens,
        cost_debug IS NOT NULL AND cost_debug <> 'null' AS cost_failed FROM raw0""")
    start_sql, end_sql = f"'{start.isoformat()}'::TIMESTAMPTZ", f"'{end.isoformat()}'::TIMESTAMPTZ"
    table = con.sql(contract_sql(specs, explicit, start_sql, end_sql)).to_arrow_table()
    return _explain_json_errors(table, con)


def _warn_if_names_disagree(con) -> None:
    """Objects named at another time than their `startTime`: the logger's clock is not `object_time_zone`, and the
    windows read the wrong objects (their requests would be missed) — said, not guessed."""
    off, hours = con.execute("""SELECT count(*), median(epoch(name_ts) - TRY_CAST(start_s AS DOUBLE)) / 3600
        FROM raw0 WHERE NOT batch AND abs(epoch(name_ts) - TRY_CAST(start_s AS DOUBLE)) > 1""").fetchone()
    if off:
        log.warning("source.path: %d objects are named %.2f h from their startTime: set source.object_time_zone "
                    "to the clock of the LiteLLM process that wrote them", off, hours)


def _explain_json_errors(table: pa.Table, con) -> pa.Table:
    """`not valid JSON: <the parser's message>` for the (few) rows that did not parse."""
    reasons = table.column(MAPPING_REASON)
    if not pc.any(pc.equal(reasons, "not valid JSON")).as_py():
        return table
    import json

    texts = dict(con.execute("SELECT source_file, j FROM raw0 WHERE json_error IS NOT NULL").fetchall())

    def explained(reason, path):
        if reason != "not valid JSON":
            return reason
        try:
            json.loads(texts.get(path, ""))
            return "not valid JSON: not an object"
        except ValueError as error:
            return f"not valid JSON: {error}"
    column = pa.array([explained(r, p) for r, p in zip(reasons.to_pylist(), table.column(SOURCE_FILE).to_pylist())],
                      pa.string())
    return table.set_column(table.column_names.index(MAPPING_REASON), MAPPING_REASON, column)
