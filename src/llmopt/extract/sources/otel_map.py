"""Parsed OTel spans → the contract's columns, in DuckDB: which spans are requests, their fields, the ancestor walk.

| contract column | from the span |
|---|---|
| request_id | `<traceId>:<spanId>` |
| ts / latency_ms | `startTimeUnixNano` / `endTimeUnixNano − startTimeUnixNano` (ns → ms) |
| status | `timeout` if `error.type` names a timeout, `error` if `status.code` is 2 or `error.type` is set, else `ok` |
| model / provider | `gen_ai.request.model`, else `gen_ai.response.model` / `gen_ai.provider.name`, else `gen_ai.system` |
| prompt / completion / cached tokens | `gen_ai.usage.input_tokens` (else `…prompt_tokens`) / `…output_tokens` (else `…completion_tokens`) / `…cache_read.input_tokens`; a failed call that reported no usage: 0 |
| max_tokens / temperature / finish_reason | `gen_ai.request.max_tokens` / `…temperature` / the first of `gen_ai.response.finish_reasons` |
| ttft_ms | `gen_ai.response.time_to_first_chunk` (seconds) × 1000 |
| quality_score | the `gen_ai.evaluation.result` event's `gen_ai.evaluation.score.value` (see `quality_sql`) |
| service, task_type, experiment_id, variant | `source.mapping` (defaults: `resource:service.name`, `ancestor:app.task_type`) |

A request is a span of an inference operation (`chat`, `text_completion`, `generate_content`, `embeddings`), or
one without `gen_ai.operation.name` that names a model (older instrumentations). Agent and tool spans
(`invoke_agent`, `execute_tool`, …) and spans without any `gen_ai.*` attribute are not requests.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from llmopt.extract.sources.mapping import FieldSpec, unmapped_reason
from llmopt.extract.sources.otel_parse import lit

INFERENCE_OPERATIONS = ("chat", "text_completion", "generate_content", "embeddings")
MAX_ANCESTOR_LEVELS = 16        # wrapper depth walked up parentSpanId (real traces are a few levels deep)
TIMEOUT_PATTERN = "timeout|timed.?out|deadline"     # openai.APITimeoutError, httpx.ReadTimeout, DEADLINE_EXCEEDED
ERROR_CODES = ("2", "STATUS_CODE_ERROR")            # OTLP JSON writes the enum as a number or its name
IS_REQUEST = (f"(coalesce(operation IN ({', '.join(map(lit, INFERENCE_OPERATIONS))}), false) OR "
              "(operation IS NULL AND (request_model IS NOT NULL OR response_model IS NOT NULL)))")


def _num(col: str) -> str:
    return f"TRY_CAST({col} AS DOUBLE)"


def quality_sql(score_name: str | None) -> str:
    """The named evaluation's latest score; unnamed, the latest score when the span has one evaluation name only."""
    if score_name:
        return f"list_filter(evaluations, lambda e: e.name = {lit(score_name)})[-1].score"
    return ("CASE WHEN len(list_distinct(list_transform(evaluations, lambda e: coalesce(e.name, '')))) = 1 "
            "THEN evaluations[-1].score END")


def field_sql(spec: FieldSpec | None, columns: dict[str, str]) -> str:
    """The SQL of a mapped field: `columns` maps a spec's text to the column that holds its value."""
    if spec is None:
        return "NULL::VARCHAR"
    if spec.kind == "const":
        return lit(spec.arg)
    return columns[spec.text]


def map_requests(con: duckdb.DuckDBPyConnection, spans: pa.Table, fields: dict[str, FieldSpec | None],
                 columns: dict[str, str], ancestors: dict[str, str], score_name: str | None) -> pa.Table:
    """The request spans of `spans` (every file read, with `source_file`) as contract columns + `start_ns`,
    `source_file` and `mapping_reason`.

    Args:
        fields: service, task_type, experiment_id, variant → their spec (None: not mapped).
        columns: a spec's text → the column with its value (for `ancestor:` specs, filled here by the walk).
        ancestors: a spec's text → the span attribute column the walk reads on the span and its ancestors.
    """
    con.register("all_spans", spans)
    con.execute(f"CREATE OR REPLACE TEMP TABLE req AS SELECT row_number() OVER () AS rid, * FROM all_spans "
                f"WHERE {IS_REQUEST}")
    walked = ""
    if ancestors:
        cols = list(dict.fromkeys(ancestors.values()))
        # up parentSpanId, level by level, within the spans read (a parent in a file not read is not found)
        con.execute(f"""CREATE OR REPLACE TEMP TABLE links AS SELECT trace_id, span_id, parent_id, {', '.join(cols)}
            FROM all_spans WHERE span_id IS NOT NULL""")
        picks = ", ".join(f"arg_min(p.{c}, w.depth) FILTER (WHERE p.{c} IS NOT NULL) AS up_{c}" for c in cols)
        con.execute(f"""CREATE OR REPLACE TEMP TABLE walked AS
            WITH RECURSIVE walk(rid, trace_id, parent_id, depth) AS (
                SELECT rid, trace_id, parent_id, 1 FROM req WHERE parent_id IS NOT NULL
                UNION ALL
                SELECT w.rid, w.trace_id, p.parent_id, w.depth + 1 FROM walk w
                JOIN links p ON p.trace_id = w.trace_id AND p.span_id = w.parent_id
                WHERE p.parent_id IS NOT NULL AND w.depth < {MAX_ANCESTOR_LEVELS})
            SELECT w.rid, {picks} FROM walk w JOIN links p ON p.trace_id = w.trace_id AND p.span_id = w.parent_id
            GROUP BY w.rid""")
        walked = "LEFT JOIN walked USING (rid)"
        columns = {**columns, **{text: f"coalesce(req.{c}, walked.up_{c})" for text, c in ancestors.items()}}
    mapped = {name: field_sql(spec, columns) for name, spec in fields.items()}
    reasons = ", ".join(
        [f"CASE WHEN model IS NULL THEN {lit('model not found in the span (no gen_ai.request.model or gen_ai.response.model)')} END",
         "CASE WHEN start_ns IS NULL OR end_ns IS NULL THEN 'startTimeUnixNano or endTimeUnixNano missing' END"]
        + [f"CASE WHEN {name} IS NULL THEN {lit(unmapped_reason(name, fields[name]))} END"
           for name in ("service", "task_type")])
    failed = (f"(status_code IN ({', '.join(map(lit, ERROR_CODES))}) OR error_type IS NOT NULL)")
    query = f"""WITH m AS (SELECT req.*, {', '.join(f'{sql} AS {name}' for name, sql in mapped.items())},
            coalesce(request_model, response_model) AS model, {failed} AS failed FROM req {walked})
        SELECT trace_id || ':' || span_id AS request_id, start_ns,
            service, task_type, experiment_id, variant,
            coalesce(provider_name, system) AS provider, model,
            coalesce({_num('input_tokens')}, {_num('prompt_tokens_old')}, CASE WHEN failed THEN 0 END) AS prompt_tokens,
            coalesce({_num('output_tokens')}, {_num('completion_tokens_old')},
                     CASE WHEN failed OR operation = 'embeddings' THEN 0 END) AS completion_tokens,
            {_num('cache_read_tokens')} AS cached_tokens, {_num('max_tokens')} AS max_tokens,
            {_num('temperature')} AS temperature, (end_ns - start_ns) / 1e6 AS latency_ms,
            {_num('time_to_first_chunk')} * 1000 AS ttft_ms,
            CASE WHEN regexp_matches(lower(error_type), {lit(TIMEOUT_PATTERN)}) THEN 'timeout'
                 WHEN failed THEN 'error' ELSE 'ok' END AS status,
            CASE WHEN starts_with(finish_reasons, '{{') THEN json_extract_string(finish_reasons, '$.values[0].stringValue')
                 ELSE finish_reasons END AS finish_reason,
            {quality_sql(score_name)} AS quality_score, source_file,
            nullif(concat_ws('; ', {reasons}), '') AS mapping_reason
        FROM m ORDER BY start_ns"""
    out = con.sql(query).to_arrow_table()
    con.unregister("all_spans")
    return out
