"""Langfuse scores (the export's `scores` table) joined to the window's observations as `quality_score`.

Columns as `packages/shared/src/server/repositories/scores.ts::buildScoresForBlobStorageExportQuery` selects
them (id, timestamp, trace_id, observation_id, name, value, data_type, …). Only NUMERIC and BOOLEAN scores have a
number in `value` (a CATEGORICAL one has its label in `string_value`); the value is taken as written (not
rescaled): a score outside [0, 1] is quarantined by the contract's quality rule, naming it.

A score names its observation (`observation_id`), or only its trace: an observation's own score wins over its
trace's, which every generation of the trace gets. Several scores of the name for one target: the latest.
"""

from __future__ import annotations

import threading
from datetime import datetime

import duckdb
import pyarrow as pa

from llmopt.extract.sources.langfuse_layout import ExportFile
from llmopt.extract.sources.langfuse_stage import SCORE_FIELDS, UnreadableFile, stage
from llmopt.extract.sources.objects import ObjectFiles, fingerprint_files

DEFAULT_SCORE = "quality_score"
_EMPTY = pa.table({"score_id": pa.array([], pa.string()), "ts": pa.array([], pa.timestamp("us", "UTC")),
                   "trace_id": pa.array([], pa.string()), "observation_id": pa.array([], pa.string()),
                   "name": pa.array([], pa.string()), "value": pa.array([], pa.float64())})


class ScoreTable:
    """The numeric scores of every scores file, parsed once per set of files (path, size, modification time)."""

    def __init__(self, objects: ObjectFiles):
        self.objects = objects
        self._cached: tuple[str, pa.Table] | None = None
        self._lock = threading.Lock()
        self.skipped: dict[str, str] = {}

    def table(self, files: list[ExportFile]) -> pa.Table:
        """One row per score (deduplicated by id: a score at a run's boundary is in two files)."""
        key = fingerprint_files([f.file for f in files])
        with self._lock:
            if self._cached and self._cached[0] == key:
                return self._cached[1]
            parts = []
            con = duckdb.connect()
            con.execute("set TimeZone = 'UTC'")
            for f in files:
                try:
                    stage(con, "scores_staged", self.objects.read([f.file])[0], f.fmt, SCORE_FIELDS, f.file.path)
                except (UnreadableFile, OSError) as error:
                    self.skipped[f.file.path] = str(error)
                    continue
                parts.append(con.sql("""
                    select id as score_id, TRY_CAST("timestamp" AS TIMESTAMPTZ) as ts, nullif(trace_id, '') as trace_id,
                           nullif(observation_id, '') as observation_id, name, TRY_CAST(value AS DOUBLE) as value
                    from scores_staged
                    where _bad is null and coalesce(upper(data_type), 'NUMERIC') in ('NUMERIC', 'BOOLEAN')
                      and TRY_CAST(value AS DOUBLE) is not null""").to_arrow_table())
            table = pa.concat_tables(parts, promote_options="permissive") if parts else _EMPTY
            con.register("all_scores", table)
            table = con.sql("select * from all_scores qualify row_number() over "
                            "(partition by score_id order by ts desc) = 1").to_arrow_table()
            con.close()
            self._cached = (key, table)
            return table


def score_name(con: duckdb.DuckDBPyConnection, configured: str | None) -> str | None:
    """The score that is quality: the configured name, else `quality_score`, else the only name present."""
    if configured:
        return configured
    names = [r[0] for r in con.sql("select distinct name from scores").fetchall()]
    return DEFAULT_SCORE if DEFAULT_SCORE in names or len(names) != 1 else names[0]


def quality_scores(con: duckdb.DuckDBPyConnection, scores: pa.Table, configured: str | None,
                   start: datetime, end: datetime) -> int:
    """Create the view `window_rows_scored` (`window_rows` with `quality_score`); return how many scores of the
    name, timed in [start, end), name no observation or trace of `seen_ids` (the ids of the window's files)."""
    con.register("scores", scores)
    name = score_name(con, configured)
    quoted = "NULL" if name is None else "'" + name.replace("'", "''") + "'"
    for statement in (
            f"create or replace temp table named as select * from scores where name = {quoted}",
            "create or replace temp view by_observation as select observation_id, arg_max(value, ts) as value "
            "from named where observation_id is not null group by 1",
            "create or replace temp view by_trace as select trace_id, arg_max(value, ts) as value "
            "from named where observation_id is null group by 1",
            "create or replace temp view window_rows_scored as "
            "select w.*, coalesce(o.value, t.value) as quality_score from window_rows w "
            "left join by_observation o on o.observation_id = w.request_id "
            "left join by_trace t on t.trace_id = w.trace_id"):
        con.execute(statement)
    return con.sql("""
        select count(*) from named s
        left join (select distinct id from seen_ids) o on o.id = s.observation_id
        left join (select distinct trace_id from seen_ids) t on t.trace_id = s.trace_id and s.observation_id is null
        where s.ts >= $start and s.ts < $end and o.id is null and t.trace_id is null
    """, params={"start": start, "end": end}).fetchall()[0][0]
