"""The `otel` source: OpenTelemetry GenAI spans as OTLP JSON lines (the Collector's `file` exporter,
`opentelemetry-exporter-otlp-json-file`), a file, folder or glob, local or `s3://`.

Files carry no time in their names and one file's spans can cover many hours, so every window reads the files
that may hold it (all but those last modified more than `MTIME_SLACK` before the window: a span is written after
it ends) and keeps the spans whose start lies in it. Parsing (`otel_parse`) and mapping (`otel_map`) run in
DuckDB; a file's parsed spans are kept per (path, size, mtime) within the process, and the mapped rows of a set
of files too, so the windows of one run parse each file once.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import fs as pafs

from llmopt.domain import utc
from llmopt.extract.frame_types import conform_table, to_contract_frame
from llmopt.extract.sources import SOURCE_FILE, register
from llmopt.extract.sources.mapping import resolve
from llmopt.extract.sources.objects import ObjectFiles, StoredFile, fingerprint_files
from llmopt.extract.sources.otel_map import IS_REQUEST, map_requests
from llmopt.extract.sources.otel_parse import SPAN_KEYS, parse_lines
from llmopt.validate.contract import MAPPING_REASON

log = logging.getLogger(__name__)
SUFFIXES = (".json", ".jsonl", ".ndjson")
MTIME_SLACK = timedelta(hours=1)        # clock skew between the writer and the store
DEFAULTS = {"service": "resource:service.name", "task_type": "ancestor:app.task_type",
            "experiment_id": None, "variant": None}
MAPPED = ("request_id", "ts", "service", "task_type", "provider", "model", "prompt_tokens", "completion_tokens",
          "cached_tokens", "max_tokens", "temperature", "latency_ms", "ttft_ms", "status", "finish_reason",
          "quality_score", "experiment_id", "variant")
MAX_CACHED_FILES = 256
CHUNK_BYTES = 32 << 20          # a larger file is parsed in pieces of whole lines
DUCKDB_MEMORY = "512MB"
SPILL_DIRECTORY = os.path.join(tempfile.gettempdir(), "llmopt-otel-spill")


class OtelRequestLog:
    """Windows of OTel GenAI spans in OTLP JSON lines.

    Args:
        path: a file, folder, glob or `s3://bucket/prefix` of `.json`/`.jsonl`/`.ndjson` (gzip too).
        mapping: `source.mapping` (`resource:`, `attr:`, `ancestor:` and `const:` specs).
    """

    def __init__(self, path: str, mapping, s3_endpoint_url: str | None = None):
        self.files = ObjectFiles(path, SUFFIXES, s3_endpoint_url)
        self.fields = {name: resolve(mapping, name, default) for name, default in DEFAULTS.items()}
        for name, spec in self.fields.items():
            if spec is not None:
                spec.require("resource", "attr", "ancestor", "const", field=name, source="otel")
        self.score_name = mapping.quality.score
        specs = {s.text: s for s in self.fields.values() if s is not None and s.kind != "const"}
        names = {text: f"m{i}" for i, text in enumerate(specs)}
        self._span_attrs = {**SPAN_KEYS, **{names[t]: s.arg for t, s in specs.items() if s.kind != "resource"}}
        self._resource_attrs = {names[t]: s.arg for t, s in specs.items() if s.kind == "resource"}
        self._columns = {t: names[t] for t in specs}
        self._ancestors = {t: names[t] for t, s in specs.items() if s.kind == "ancestor"}
        self._parsed: dict[tuple, tuple[pa.Table, pa.Table, dict]] = {}
        self._mapped: tuple[frozenset, pa.Table, Counter] | None = None
        self._lock = threading.Lock()
        self.notes: dict[str, int] = {}

    # -- the protocol -----------------------------------------------------------------------------------------
    def present_columns(self) -> list[str]:
        """Every contract column the format can give (a span lacking one leaves it null)."""
        return [c for c in MAPPED if c not in ("experiment_id", "variant") or self.fields[c] is not None]

    def fingerprints(self, windows: list[tuple[datetime, datetime]]) -> list[str]:
        """Per window, a SHA-256 of the files that may hold it (path, size, modification time): any change to a
        file changes every window it may hold, i.e. every window up to its modification time (+ MTIME_SLACK).
        The file being written changes them all; a rotated file deleted changes only the windows before it."""
        listed = self.files.list()
        return [fingerprint_files(self._candidates(listed, start)) for start, _ in windows]

    def row_counts(self, windows: list[tuple[datetime, datetime]]) -> list[int]:
        """Rows per window, exact: the files are parsed (and kept for the reads that follow)."""
        if not windows:
            return []
        rows, _ = self._rows(min(s for s, _ in windows))
        ts = rows.column("start_ns").to_numpy(zero_copy_only=False)
        return [int(np.searchsorted(ts, _ns(e)) - np.searchsorted(ts, _ns(s))) for s, e in windows]

    def read_partition(self, start: datetime, end: datetime, columns: list[str]) -> pd.DataFrame:
        """The requests that started in [start, end), as contract columns + `source_file` + `mapping_reason`."""
        return to_contract_frame(self.read_table(start, end, columns))

    def read_table(self, start: datetime, end: datetime, columns: list[str]) -> pa.Table:
        """`read_partition` as Arrow, for the columnar engine."""
        rows, notes = self._rows(start)
        ts = rows.column("start_ns").to_numpy(zero_copy_only=False)
        first, stop = (int(np.searchsorted(ts, _ns(moment))) for moment in (start, end))
        window = rows.slice(first, stop - first)
        self.notes = dict(notes)
        if notes:
            log.info("otel %s: %s", self.files.uri, ", ".join(f"{k} ×{v}" for k, v in sorted(notes.items())))
        keep = [c for c in MAPPED if c in columns or c in ("request_id", "ts")]
        table = window.append_column("ts", pc.cast(window.column("start_ns"), pa.timestamp("ns", "UTC")))
        return conform_table(table.select([c for c in [*keep, SOURCE_FILE, MAPPING_REASON] if c in table.column_names]))

    def describe_fields(self) -> dict[str, str]:
        """Where each contract column comes from (`llmopt sources check`)."""
        spec = {n: (s.text if s else "absent (null)") for n, s in self.fields.items()}
        return {"request_id": "traceId:spanId", "ts": "startTimeUnixNano",
                "latency_ms": "endTimeUnixNano − startTimeUnixNano",
                "status": "status.code / error.type (timeout when it names one)",
                "model": "gen_ai.request.model, else gen_ai.response.model",
                "provider": "gen_ai.provider.name, else gen_ai.system",
                "prompt_tokens": "gen_ai.usage.input_tokens, else gen_ai.usage.prompt_tokens",
                "completion_tokens": "gen_ai.usage.output_tokens, else gen_ai.usage.completion_tokens",
                "cached_tokens": "gen_ai.usage.cache_read.input_tokens",
                "max_tokens": "gen_ai.request.max_tokens", "temperature": "gen_ai.request.temperature",
                "ttft_ms": "gen_ai.response.time_to_first_chunk × 1000",
                "finish_reason": "gen_ai.response.finish_reasons[0]",
                "quality_score": "gen_ai.evaluation.result event " + (
                    f"named {self.score_name!r}" if self.score_name else "(the only evaluation name)"),
                "cost_usd": "absent (null): priced from the price map", **spec}

    # -- reading ------------------------------------------------------------------------------------------------
    def _candidates(self, listed: list[StoredFile], start: datetime) -> list[StoredFile]:
        since = (utc(start) - MTIME_SLACK).timestamp() * 1e9
        return [f for f in listed if f.mtime_ns >= since]

    def _rows(self, start: datetime) -> tuple[pa.Table, Counter]:
        """The mapped rows (sorted by start) of every file that may hold windows from `start` on."""
        with self._lock:
            files = self._candidates(self.files.list(), start)
            keys = frozenset((f.path, f.size, f.mtime_ns) for f in files)
            if self._mapped is not None and keys <= self._mapped[0]:
                return self._mapped[1], self._mapped[2]
            rows, notes = self._map(files)
            self._mapped = (keys, rows, notes)
            return rows, notes

    def _map(self, files: list[StoredFile]) -> tuple[pa.Table, Counter]:
        # a file's stages spill to disk beyond DUCKDB_MEMORY rather than grow the process
        con = duckdb.connect(config={"memory_limit": DUCKDB_MEMORY, "temp_directory": SPILL_DIRECTORY})
        try:
            spans, bad, notes = [], [], Counter()
            for f in files:
                parsed, broken, counts = self._parse(con, f)
                if counts["otlp_lines"] == 0:           # nothing in it is OTLP traces: another format, or logs
                    notes[f"files without OTLP spans skipped ({f.name})"] += 1
                    continue
                spans.append(parsed.append_column(SOURCE_FILE, pa.repeat(pa.scalar(f.path), parsed.num_rows)))
                bad.append(broken.append_column(SOURCE_FILE, pa.repeat(pa.scalar(f.path), broken.num_rows))
                           .append_column("mtime_ns", pa.repeat(pa.scalar(f.mtime_ns), broken.num_rows)))
                for k in ("lines_without_spans", "unfinished_lines"):
                    notes[k] += counts[k]
            if not spans:
                return _empty(), notes
            every = pa.concat_tables(spans, promote_options="permissive")
            con.register("every_span", every)
            others = con.sql(f"SELECT count(*) FILTER (WHERE is_genai), count(*) FILTER (WHERE NOT is_genai) "
                             f"FROM every_span WHERE NOT {IS_REQUEST}").fetchall()[0]
            con.unregister("every_span")
            notes["spans without gen_ai.* attributes (not requests)"] += others[1]
            notes["GenAI spans of other operations (agents, tools; not requests)"] += others[0]
            mapped = map_requests(con, every, self.fields, self._columns, self._ancestors, self.score_name)
            rows = pa.concat_tables([mapped, _bad_line_rows(pa.concat_tables(bad))], promote_options="permissive")
            rows = rows.sort_by("start_ns")
            return rows, Counter({k: v for k, v in notes.items() if v})
        finally:
            con.close()

    def _parse_pieces(self, con, f: StoredFile, local: bool) -> tuple[pa.Table, pa.Table, dict]:
        """A large or remote file in pieces of whole lines, each through a temporary file (a piece's memory is
        bounded whatever the file's size; remote bytes come through ObjectFiles)."""
        if local:
            handle = open(f.path, "rb")
            blocks = iter(lambda: handle.read(CHUNK_BYTES), b"")
        else:
            data = self.files.read([f])[0]
            handle, blocks = None, (data[i:i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES))
        spans, bad, counts = [], [], Counter()
        try:
            for piece in _pieces(blocks):
                with tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False) as tmp:
                    tmp.write(piece)
                try:
                    s, b, c = parse_lines(con, tmp.name, self._span_attrs, self._resource_attrs,
                                          piece.endswith(b"\n"), first_line=counts["lines"] + 1)
                finally:
                    os.unlink(tmp.name)
                spans.append(s), bad.append(b), counts.update(c)
        finally:
            if handle is not None:
                handle.close()
        if not spans:
            return parse_lines(con, os.devnull, self._span_attrs, self._resource_attrs, True)
        return pa.concat_tables(spans, promote_options="permissive"), pa.concat_tables(bad), dict(counts)

    def _parse(self, con, f: StoredFile) -> tuple[pa.Table, pa.Table, dict]:
        """One file's spans, parsed once per (path, size, mtime)."""
        key = (f.path, f.size, f.mtime_ns)
        if key not in self._parsed:
            if len(self._parsed) >= MAX_CACHED_FILES:
                self._parsed.pop(next(iter(self._parsed)))
            local = isinstance(self.files.filesystem, pafs.LocalFileSystem) and not f.path.endswith(".gz")
            if local and f.size <= CHUNK_BYTES:        # DuckDB reads it where it is
                with open(f.path, "rb") as handle:
                    handle.seek(max(0, f.size - 1))
                    complete = handle.read(1) in (b"\n", b"")
                spans, bad, counts = parse_lines(con, f.path, self._span_attrs, self._resource_attrs, complete)
            else:
                spans, bad, counts = self._parse_pieces(con, f, local)
            counts["otlp_lines"] = counts["lines"] - counts["lines_without_spans"] - bad.num_rows - \
                counts["unfinished_lines"]
            self._parsed[key] = (spans, bad, counts)
        return self._parsed[key]


def _pieces(data_blocks) -> Iterator[bytes]:
    """The bytes in pieces of about CHUNK_BYTES that end at a newline (the last one may not)."""
    rest = b""
    for block in data_blocks:
        rest += block
        cut = rest.rfind(b"\n")
        if cut >= 0:
            yield rest[:cut + 1]
            rest = rest[cut + 1:]
    if rest:
        yield rest


def _ns(moment: datetime) -> int:
    return int(pd.Timestamp(utc(moment)).value)


def _bad_line_rows(bad: pa.Table) -> pa.Table:
    """A row per unparseable line, quarantined with its reason, in the window of the first span start its text
    shows (else of the file's modification time: a crash truncates the line being written last)."""
    start = pc.coalesce(bad.column("start_ns"), bad.column("mtime_ns"))
    reason = pc.binary_join_element_wise(bad.column(SOURCE_FILE), bad.column("reason"), ": ")
    return pa.table({"request_id": pa.nulls(bad.num_rows, pa.string()), "start_ns": start,
                     SOURCE_FILE: bad.column(SOURCE_FILE), MAPPING_REASON: reason})


def _empty() -> pa.Table:
    return pa.table({"request_id": pa.array([], pa.string()), "start_ns": pa.array([], pa.int64()),
                     SOURCE_FILE: pa.array([], pa.string()), MAPPING_REASON: pa.array([], pa.string())})


@register("otel")
def open_otel(config, settings, engine):
    return OtelRequestLog(config.path, config.mapping, settings.s3_endpoint_url)
