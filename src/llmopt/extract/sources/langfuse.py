"""The `langfuse` source: Langfuse's blob-storage export (observations and scores) in a folder or on S3.

GENERATION observations are the requests (`langfuse_map` has the field table); SPAN, EVENT and the other types
are skipped. Each window reads the export files that may hold its start times (`langfuse_layout`), maps them
file by file in DuckDB, keeps one row per observation id (a row at a run's boundary is in two files) and joins
the quality score. What it cannot map it reports: unreadable lines and unmapped fields go to the quarantine
(`mapping_reason`), files of other formats are skipped, scores that name no observation of the window's
files are counted, and an implausible `latency_unit` is named — all logged and kept in `report`.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import datetime

import duckdb
import pandas as pd
import pyarrow as pa

from llmopt.domain import utc
from llmopt.extract.frame_types import COLUMN_KINDS, conform_table, null_column, repeated_text, to_contract_frame
from llmopt.extract.sources import SOURCE_FILE, register
from llmopt.extract.sources.langfuse_layout import ExportFile, classify, score_files, window_files
from llmopt.extract.sources.langfuse_map import field_specs, mapping_sql, spec_fields
from llmopt.extract.sources.langfuse_scores import ScoreTable, quality_scores
from llmopt.extract.sources.langfuse_stage import JSONL_CHUNK_BYTES, OBSERVATION_FIELDS, UnreadableFile, stage
from llmopt.extract.sources.objects import ObjectFiles, fingerprint_files, read_line_pieces
from llmopt.validate.contract import MAPPING_REASON

log = logging.getLogger(__name__)
COLUMNS = ("request_id", "ts", "service", "task_type", "model", "prompt_tokens", "completion_tokens",
           "cached_tokens", "latency_ms", "ttft_ms", "status", "cost_usd", "quality_score", "experiment_id",
           "variant")
# A window's median latency outside these, in the declared unit, means the unit is wrong: a median LLM call takes
# between 0.05 s and 10 min (read in the other unit, a typical 0.3–30 s export lands far outside)
SECONDS_MEDIAN_MAX, MILLISECONDS_MEDIAN_MIN = 600.0, 50.0


class LangfuseExport:
    """Request windows of a Langfuse blob-storage export.

    Args:
        path: the export's folder or `s3://bucket/prefix` (the integration's prefix; project folders below).
        latency_unit: `seconds`, or `milliseconds` for `observations_v2` exports of integrations created
            before 2026-04-01 (the legacy `observations` table is always in seconds).
        mapping: `source.mapping` (service, task_type, experiment_id, variant, quality.score).
    """

    def __init__(self, path: str, latency_unit: str = "seconds", mapping=None, s3_endpoint_url: str | None = None):
        from llmopt.extract.sources.config import SourceMapping

        self.mapping = mapping or SourceMapping()
        self.latency_unit = latency_unit
        self.specs = field_specs(self.mapping)
        self.fields = tuple(dict.fromkeys(OBSERVATION_FIELDS + spec_fields(self.specs)))
        self.objects = ObjectFiles(path, ("",), s3_endpoint_url)     # every file: others are skipped by name
        self.scores = ScoreTable(self.objects)
        self.report: dict = {"skipped_files": {}, "unmatched_scores": 0, "warnings": []}
        self._lock = threading.Lock()

    def _files(self) -> list[ExportFile]:
        files, skipped = classify(self.objects.list())
        with self._lock:
            for path, reason in skipped.items():
                if path not in self.report["skipped_files"]:
                    log.warning("langfuse source: skipped %s: %s", path, reason)
                    self.report["skipped_files"][path] = reason
        return files

    def present_columns(self) -> list[str]:
        """Every mapped column: a field the export lacks is null in its rows (the contract reads it so)."""
        return list(COLUMNS)

    def row_counts(self, windows: list[tuple[datetime, datetime]]) -> list[int]:
        """An estimate per window from the files' sizes and time ranges (only reading counts the rows)."""
        files = self._files()
        return [sum(f.estimated_rows(utc(s), utc(e)) for f in window_files(files, utc(s), utc(e)))
                for s, e in windows]

    def fingerprints(self, windows: list[tuple[datetime, datetime]]) -> list[str]:
        """Per window, a digest of the observation files that may hold it and of every scores file.

        A score may come any time after its observation (an evaluation, user feedback) and the export files
        scores by the score's own time, so every scores file may change any window: a new scores file changes
        every window's fingerprint (those windows are read again).
        """
        files = self._files()
        scores = [f.file for f in score_files(files)]
        return [fingerprint_files([f.file for f in window_files(files, utc(s), utc(e))] + scores,
                                  f"{self.latency_unit} {self.mapping.model_dump_json()}") for s, e in windows]

    def read_partition(self, start: datetime, end: datetime, columns: list[str]) -> pd.DataFrame:
        """The GENERATION observations with start ≤ start_time < end, in contract columns (+ source_file and
        mapping_reason); one file read and mapped at a time."""
        return to_contract_frame(self.read_table(start, end, columns)).reset_index(drop=True)

    def read_table(self, start: datetime, end: datetime, columns: list[str]) -> pa.Table:
        """`read_partition` as Arrow, for the columnar engine."""
        start, end = utc(start), utc(end)
        files = self._files()
        chosen = window_files(files, start, end)
        con = duckdb.connect()
        con.execute("set TimeZone = 'UTC'")
        parts, seen = [], []
        for export_file in chosen:
            mapped, ids = self._map_file(con, export_file, start, end)
            if mapped is not None:
                parts.append(mapped)
                seen.append(ids)
        if not parts:
            return conform_table(pa.table({c: null_column(COLUMN_KINDS.get(c), 0)
                                           for c in [*(c for c in COLUMNS if c in columns), SOURCE_FILE, MAPPING_REASON]}))
        con.register("mapped", pa.concat_tables(parts, promote_options="permissive"))
        # a row at a run's boundary (start_time = maxTimestamp) is in both runs' files: keep the later file's
        con.execute("create temp view window_rows as select * from mapped qualify row_number() over "
                    "(partition by case when status is null then source_file || mapping_reason else request_id end "
                    "order by source_file desc) = 1")       # (an unreadable line has no status: never a duplicate)
        con.register("seen_ids", pa.concat_tables(seen))
        unmatched = quality_scores(con, self.scores.table(score_files(files)), self.mapping.quality.score, start, end)
        table = con.sql(f"select {', '.join(c for c in COLUMNS if c in columns)}, {SOURCE_FILE}, {MAPPING_REASON}, "
                        "latency_as_written, table_name from window_rows_scored order by ts, request_id").to_arrow_table()
        con.close()
        self._note(unmatched, table, start, end)
        return conform_table(table.drop_columns(["latency_as_written", "table_name"]))

    def _map_file(self, con, export_file: ExportFile, start: datetime, end: datetime):
        """One file's window rows as Arrow (None: unreadable, reported), and every id and trace id it holds."""
        path = export_file.file.path
        # latency in ms: seconds everywhere, but `observations_v2` of older integrations wrote milliseconds
        scale = 1.0 if export_file.table == "observations_v2" and self.latency_unit == "milliseconds" else 1000.0
        home = export_file.covers_to is not None and start < export_file.covers_to <= end
        params = {"start": start, "end": end, "scale": scale, "home": home}
        mapped, ids = [], []
        try:
            # JSONL streamed in pieces of whole lines (memory bounded by the piece), CSV and Parquet read whole
            pieces = (read_line_pieces(self.objects.filesystem, export_file.file, JSONL_CHUNK_BYTES)
                      if export_file.fmt == "jsonl" else [(self.objects.read([export_file.file])[0], 1)])
            for piece, first_line in pieces:
                stage(con, "staged", piece, export_file.fmt, self.fields, path, first_line)
                mapped.append(con.sql(mapping_sql("staged", self.specs), params=params).to_arrow_table())
                ids.append(con.sql("select distinct id, trace_id from staged").to_arrow_table())
        except (UnreadableFile, UnicodeDecodeError, OSError) as error:
            with self._lock:
                if path not in self.report["skipped_files"]:
                    log.warning("langfuse source: skipped %s: %s", path, error)
                    self.report["skipped_files"][path] = str(error)
            return None, None
        table = pa.concat_tables(mapped)
        table = table.append_column("table_name", repeated_text(export_file.table, table.num_rows))
        return table, pa.concat_tables(ids)

    def _note(self, unmatched: int, table: pa.Table, start: datetime, end: datetime) -> None:
        """Count scores that joined nothing; warn when the median latency does not fit `latency_unit`."""
        with self._lock:
            self.report["unmatched_scores"] += unmatched
        if unmatched:
            log.warning("langfuse source: %d score(s) with a timestamp in [%s, %s) name an observation or trace "
                        "not in that window's export files (unknown id, or an observation of an earlier hour)",
                        unmatched, start.isoformat(), end.isoformat())
        v2 = table.filter(pa.compute.equal(table["table_name"], "observations_v2"))["latency_as_written"]
        warning = implausible_unit(self.latency_unit, pd.Series(v2.to_numpy(zero_copy_only=False)).median())
        if warning:
            with self._lock:
                if warning not in self.report["warnings"]:
                    log.warning("langfuse source: %s", warning)
                    self.report["warnings"].append(warning)

    def counts(self) -> Counter:
        """What was reported so far: skipped files, unmatched scores, warnings (for a run's summary)."""
        return Counter(skipped_files=len(self.report["skipped_files"]),
                       unmatched_scores=self.report["unmatched_scores"], warnings=len(self.report["warnings"]))


def implausible_unit(unit: str, median: float) -> str | None:
    """The warning when a window's median `latency` (as written, in `unit`) cannot be that unit, else None."""
    if median != median:        # NaN: no latency written
        return None
    if unit == "seconds" and median > SECONDS_MEDIAN_MAX:
        return (f"median latency is {median:g} 'seconds' (over {SECONDS_MEDIAN_MAX:g} s): this export writes "
                "milliseconds (integrations created before 2026-04-01); set source.latency_unit: milliseconds")
    if unit == "milliseconds" and median < MILLISECONDS_MEDIAN_MIN:
        return (f"median latency is {median:g} 'milliseconds' (under {MILLISECONDS_MEDIAN_MIN:g} ms): this export "
                "writes seconds; set source.latency_unit: seconds")
    return None


@register("langfuse")
def open_langfuse(config, settings, engine):
    return LangfuseExport(config.path, config.latency_unit, config.mapping, settings.s3_endpoint_url)
