"""OTLP JSON lines → one row per span, in DuckDB: the attribute values the otel source maps, parsed once per file.

Each line is an export (`{"resourceSpans": [{"resource": …, "scopeSpans": [{"spans": [...]}]}]}`). The stages are
materialized as tables one after the other, since DuckDB re-evaluates a JSON expression once per unnested row when
they are inlined. A line is parsed once into its resources and spans (kept as JSON text), each span once into its
fields; an attribute's value is its AnyValue's one member (`stringValue`, `intValue` — a string in OTLP JSON —,
`doubleValue`, `boolValue`, or `arrayValue` as JSON), looked up by `list_position` of its key.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

# Attribute names of the current GenAI conventions (open-telemetry/semantic-conventions model/gen-ai/registry.yaml),
# and the ones they replaced, still written by default by older instrumentations
# (model/gen-ai/deprecated/registry-deprecated.yaml @ 055b333b: gen_ai.system → gen_ai.provider.name,
# gen_ai.usage.prompt_tokens → gen_ai.usage.input_tokens, gen_ai.usage.completion_tokens → …output_tokens).
SPAN_KEYS = {
    "operation": "gen_ai.operation.name",
    "provider_name": "gen_ai.provider.name",
    "system": "gen_ai.system",                                  # deprecated
    "request_model": "gen_ai.request.model",
    "response_model": "gen_ai.response.model",
    "input_tokens": "gen_ai.usage.input_tokens",
    "prompt_tokens_old": "gen_ai.usage.prompt_tokens",          # deprecated
    "output_tokens": "gen_ai.usage.output_tokens",
    "completion_tokens_old": "gen_ai.usage.completion_tokens",  # deprecated
    "cache_read_tokens": "gen_ai.usage.cache_read.input_tokens",
    "time_to_first_chunk": "gen_ai.response.time_to_first_chunk",     # seconds
    "max_tokens": "gen_ai.request.max_tokens",
    "temperature": "gen_ai.request.temperature",
    "finish_reasons": "gen_ai.response.finish_reasons",
    "response_id": "gen_ai.response.id",
    "error_type": "error.type",
}
EVALUATION_EVENT = "gen_ai.evaluation.result"
EVALUATION_NAME, EVALUATION_SCORE = "gen_ai.evaluation.name", "gen_ai.evaluation.score.value"
MAX_LINE_BYTES = 512 << 20
LINE_SHAPE = '{"resourceSpans": [{"resource": "JSON", "scopeSpans": [{"spans": ["JSON"]}]}]}'
SPAN_SHAPE = ('{"traceId": "VARCHAR", "spanId": "VARCHAR", "parentSpanId": "VARCHAR", "startTimeUnixNano": "VARCHAR", '
              '"endTimeUnixNano": "VARCHAR", "status": {"code": "VARCHAR"}, '
              '"attributes": [{"key": "VARCHAR", "value": "JSON"}], "events": "JSON"}')          # one export per line: a Collector batch can be tens of MB


def lit(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _lookup(keys: str, values: str, name: str) -> str:
    return f"{values}[list_position({keys}, {lit(name)})]"


def _event_attr(name: str) -> str:
    return _lookup("json_extract_string(e, '$.attributes[*].key')", "json_extract_string(e, '$.attributes[*].value.*')",
                   name)


def parse_lines(con: duckdb.DuckDBPyConnection, path: str, span_attrs: dict[str, str],
                resource_attrs: dict[str, str], complete: bool,
                first_line: int = 1) -> tuple[pa.Table, pa.Table, dict[str, int]]:
    """Parse one NDJSON file at `path` (a local file DuckDB reads itself).

    Args:
        span_attrs: output column → span attribute name (SPAN_KEYS and the mapping's `attr:`/`ancestor:` names).
        resource_attrs: output column → resource attribute name (the mapping's `resource:` names).
        complete: the file ends with a newline; if not, its last line is being written: skipped, not bad.
        first_line: the number of its first line (a piece of a longer file).

    Returns:
        The spans (one row each: line_no, trace_id, span_id, parent_id, start_ns, end_ns, status_code,
        is_genai, the attribute columns, and `evaluations`, a list of {name, score}), the bad lines (line_no,
        start_ns from the text if any, reason), and counts (lines, lines_without_spans, unfinished_lines).
    """
    con.execute(f"""CREATE OR REPLACE TEMP TABLE lines AS SELECT row_number() OVER () + {first_line - 1} AS line_no, line
        FROM read_csv({lit(path)}, columns={{'line': 'VARCHAR'}}, delim='\\x01', quote='', escape='',
                      header=false, auto_detect=false, strict_mode=false, max_line_size={MAX_LINE_BYTES})
        WHERE line IS NOT NULL AND trim(line) <> ''""")
    last = con.sql("SELECT max(line_no) FROM lines").fetchall()[0][0] or first_line - 1
    # one parse of each line: the resource and each span kept as JSON text (NULL: the line is not JSON)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE docs AS
        SELECT line_no, line, try(json_transform(line, {lit(LINE_SHAPE)})) AS d FROM lines""")
    con.execute("DROP TABLE lines")     # each stage's input is dropped once read: the file's text is held ~twice
    unfinished = 0 if complete else con.sql(
        f"SELECT count(*) FROM docs WHERE line_no = {last} AND d IS NULL").fetchall()[0][0]
    bad = con.sql(f"""SELECT line_no,
            TRY_CAST(regexp_extract(line, '"startTimeUnixNano"\\s*:\\s*"?([0-9]+)[",]', 1) AS BIGINT) AS start_ns,
            'line ' || line_no || ' is not valid JSON (a truncated or partly written export?)' AS reason
        FROM docs WHERE d IS NULL AND NOT (line_no = {last} AND {str(not complete).lower()})
        ORDER BY line_no""").to_arrow_table()
    without = con.sql("SELECT count(*) FROM docs WHERE d IS NOT NULL AND coalesce(len(d.resourceSpans), 0) = 0"
                      ).fetchall()[0][0]
    # each stage its own table: inlined, DuckDB would recompute a row's lists once per unnested span
    con.execute("""CREATE OR REPLACE TEMP TABLE resources AS
        SELECT line_no, unnest(d.resourceSpans) AS r FROM docs WHERE len(d.resourceSpans) > 0""")
    con.execute("DROP TABLE docs")
    con.execute("""CREATE OR REPLACE TEMP TABLE resource_lists AS
        SELECT line_no, json_extract_string(r.resource, '$.attributes[*].key') AS rk,
               json_extract_string(r.resource, '$.attributes[*].value.*') AS rv,
               flatten(list_transform(r.scopeSpans, lambda x: x.spans)) AS spans FROM resources""")
    con.execute("DROP TABLE resources")
    con.execute("""CREATE OR REPLACE TEMP TABLE raw_spans AS
        SELECT line_no, rk, rv, unnest(spans) AS s FROM resource_lists""")
    con.execute("DROP TABLE resource_lists")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE fields AS
        SELECT line_no, rk, rv, json_transform(s, {lit(SPAN_SHAPE)}) AS t FROM raw_spans""")
    con.execute("DROP TABLE raw_spans")
    # an AnyValue's one member (`$.*`): the text of a string, int (a string in OTLP JSON), double or bool
    con.execute("""CREATE OR REPLACE TEMP TABLE kv AS
        SELECT line_no, rk, rv, t, list_transform(t.attributes, lambda a: a.key) AS k,
               list_transform(t.attributes, lambda a: json_extract_string(a.value, '$.*')[1]) AS v FROM fields""")
    con.execute("DROP TABLE fields")
    attr_cols = "".join(f", {_lookup('k', 'v', name)} AS {col}" for col, name in span_attrs.items())
    resource_cols = "".join(f", {_lookup('rk', 'rv', name)} AS {col}" for col, name in resource_attrs.items())
    spans = con.sql(f"""SELECT line_no, lower(t.traceId) AS trace_id, lower(t.spanId) AS span_id,
            nullif(lower(t.parentSpanId), '') AS parent_id, TRY_CAST(t.startTimeUnixNano AS BIGINT) AS start_ns,
            TRY_CAST(t.endTimeUnixNano AS BIGINT) AS end_ns, t.status.code AS status_code,
            coalesce(len(list_filter(k, lambda x: starts_with(x, 'gen_ai.'))) > 0, false) AS is_genai
            {attr_cols}{resource_cols},
            CASE WHEN json_array_length(t.events) > 0 THEN list_transform(
                list_filter(json_extract(t.events, '$[*]'),
                            lambda e: json_extract_string(e, '$.name') = {lit(EVALUATION_EVENT)}),
                lambda e: {{'name': {_event_attr(EVALUATION_NAME)},
                            'score': TRY_CAST({_event_attr(EVALUATION_SCORE)} AS DOUBLE)}}) END AS evaluations
        FROM kv""").to_arrow_table()
    con.execute("DROP TABLE kv")
    return spans, bad, {"lines": last - first_line + 1, "lines_without_spans": without,
                        "unfinished_lines": unfinished}
