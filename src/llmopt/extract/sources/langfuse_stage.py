"""One Langfuse export file as a DuckDB relation of text columns named as the export names them.

Every format is brought to the same shape first, so one mapping query serves all three: a field's value is its
text (a JSON object or array as its JSON text, a timestamp as `2026-11-20 10:00:00.123456`), a missing field is
NULL. The export writes what ClickHouse returns: maps (`usage_details`, `cost_details`, `metadata`) as JSON
objects in JSONL and CSV (UInt64 counts quoted, as ClickHouse quotes 64-bit integers in JSON) and as Parquet
maps; non-nullable strings as "" when empty; CSV cells are the JSON text of objects, "" for null.
"""

from __future__ import annotations

import io

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from llmopt.extract.sources import SOURCE_FILE

# The export fields the mapping reads (plus the first segment of each mapping path and `tags` for tag specs).
OBSERVATION_FIELDS = ("id", "trace_id", "type", "start_time", "end_time", "completion_start_time", "level",
                      "status_message", "provided_model_name", "model", "usage_details", "cost_details",
                      "total_cost", "calculated_total_cost", "latency", "time_to_first_token")
SCORE_FIELDS = ("id", "timestamp", "trace_id", "observation_id", "name", "value", "data_type")
BAD_LINE = "_bad"           # why a line could not be read (NULL for a good one)


JSONL_CHUNK_BYTES = 64 << 20     # a large export file is mapped in pieces of whole lines: memory stays bounded


class UnreadableFile(ValueError):
    """A whole file that cannot be parsed (a broken CSV or Parquet file): skipped, with this reason."""


def _quoted(field: str) -> str:
    return '"' + field.replace('"', '""') + '"'


def stage(con: duckdb.DuckDBPyConnection, name: str, data: bytes, fmt: str, fields: tuple[str, ...],
          path: str, first_line: int = 1) -> None:
    """Register `name` in `con`: one row per record of `data`, a VARCHAR column per field, `_bad`, `_line`
    and `source_file`.

    Raises:
        UnreadableFile: a CSV or Parquet file that does not parse.
    """
    if fmt == "jsonl":
        _stage_jsonl(con, name, data, fields, first_line)
    else:
        _stage_table(con, name, _read_csv(data, fields) if fmt == "csv" else _read_parquet(data, fields), fields)
    quoted = "'" + path.replace("'", "''") + "'"
    # materialized: each line is parsed once (a view would parse it again for every field and every query)
    con.execute(f"create or replace temp table {name} as select *, {quoted} as {SOURCE_FILE} from {name}_raw")


def _stage_jsonl(con, name: str, data: bytes, fields: tuple[str, ...], first_line: int) -> None:
    """One Arrow string per line; one JSON parse per line extracts every field (`try`: a broken line gives
    NULL, kept with its reason and whatever id, type and start time a search of its text finds)."""
    lines = pc.split_pattern(pa.array([data.decode("utf-8", errors="replace")], pa.large_string()), "\n").flatten()
    numbers = pa.array(np.arange(first_line, first_line + len(lines)))
    keep = pc.not_equal(pc.utf8_trim_whitespace(lines), "")
    con.register(f"{name}_lines", pa.table({"j": lines.filter(keep), "n": numbers.filter(keep)}))
    paths = "[" + ", ".join(f"'$.{_quoted(f)}'" for f in fields) + "]"
    guessed = {"id", "type", "start_time"}      # the core fields lead every row: a cut-off line still has them

    def column(i: int, field: str) -> str:
        value = f"v[{i + 1}]"
        if field in guessed:
            value = f"coalesce({value}, nullif(regexp_extract(j, '\"{field}\"\\s*:\\s*\"([^\"]*)\"', 1), ''))"
        return f"{value} as {_quoted(field)}"
    con.execute(f"""
        create or replace temp view {name}_raw as
        select {", ".join(column(i, f) for i, f in enumerate(fields))},
               case when v is null then 'line ' || n || ' is not valid JSON (cut short or corrupt)' end as {BAD_LINE},
               n as _line
        from (select j, n, try(json_extract_string(j, {paths})) as v from {name}_lines)""")


def _read_csv(data: bytes, fields: tuple[str, ...]) -> pa.Table:
    try:    # Langfuse quotes every cell; input/output hold newlines
        return pa_csv.read_csv(io.BytesIO(data), parse_options=pa_csv.ParseOptions(newlines_in_values=True),
                               convert_options=pa_csv.ConvertOptions(
                                   include_columns=list(fields), include_missing_columns=True,
                                   column_types={f: pa.string() for f in fields}, strings_can_be_null=False))
    except (pa.ArrowInvalid, UnicodeDecodeError) as error:
        raise UnreadableFile(f"not a readable CSV file ({error})") from None


def _read_parquet(data: bytes, fields: tuple[str, ...]) -> pa.Table:
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
    except (pa.ArrowInvalid, OSError) as error:
        raise UnreadableFile(f"not a readable Parquet file ({error})") from None
    return parquet.read(columns=[f for f in fields if f in parquet.schema_arrow.names])


def _stage_table(con, name: str, table: pa.Table, fields: tuple[str, ...]) -> None:
    """CSV text or Parquet types as text: nested values (maps, lists) as JSON, "" as NULL."""
    con.register(f"{name}_table", table)
    types = {f.name: f.type for f in table.schema}

    def text(field: str) -> str:
        if field not in types:
            return f"NULL::VARCHAR as {_quoted(field)}"
        kind = types[field]
        if pa.types.is_map(kind) or pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_struct(kind):
            return f"to_json({_quoted(field)})::VARCHAR as {_quoted(field)}"
        return f"nullif(CAST({_quoted(field)} AS VARCHAR), '') as {_quoted(field)}"
    con.execute(f"""
        create or replace temp view {name}_raw as
        select {", ".join(text(f) for f in fields)}, NULL::VARCHAR as {BAD_LINE}, row_number() over () as _line
        from {name}_table""")
