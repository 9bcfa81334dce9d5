"""The files of a Langfuse blob-storage export: which table each holds, its format and the time range it covers.

Langfuse's exporter (`worker/src/features/blobstorage/handleBlobStorageIntegrationProjectJob.ts`) writes, per run,
one object per table at `{prefix}{projectId}/{table}/{maxTimestamp}.{ext}` (`maxTimestamp` as
`2026-11-20T10-00-00`, `manifest.ts::formatBlobExportTimestamp`), where a run exports the rows with
`lastSyncAt <= start_time <= maxTimestamp` (observations; scores by their `timestamp`) and the next run starts at
this run's `maxTimestamp`. So a file named T covers [T_prev, T], T_prev being the previous file of its folder;
the first file of a folder may hold any earlier time (a full-history export starts at the oldest row).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from llmopt.extract.sources.objects import StoredFile

OBSERVATION_TABLES = ("observations_v2", "observations")     # v2: the enriched events table; preferred when both
SCORES_TABLE = "scores"
IGNORED_TABLES = {"traces": "traces table (not a request log)", "manifests": "export manifest"}
FORMATS = {".jsonl": "jsonl", ".jsonl.gz": "jsonl", ".csv": "csv", ".csv.gz": "csv", ".parquet": "parquet"}
_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})")
# What a text file's rows weigh, for row estimates only (a Langfuse row carries the call's input and output)
ROW_BYTES = {"jsonl": 2000, "csv": 2000, "parquet": 400}
GZIP_RATIO = 8


@dataclass(frozen=True)
class ExportFile:
    """One export file: its table, format and covered start times [covers_from, covers_to] (None: unbounded)."""

    file: StoredFile
    table: str
    fmt: str
    covers_from: datetime | None
    covers_to: datetime | None

    def may_hold(self, start: datetime, end: datetime) -> bool:
        """Whether rows with start ≤ t < end can be in this file: its range meets [start, end).

        A row at exactly the boundary T is in both files (both bounds inclusive); the later file is enough, so a
        file ending at `start` is not read.
        """
        return (self.covers_to is None or self.covers_to > start) and \
            (self.covers_from is None or self.covers_from < end)

    def estimated_rows(self, start: datetime, end: datetime) -> int:
        """Rows of this file in [start, end): its size over a typical row's, times the share of its time range."""
        rows = self.file.size * (GZIP_RATIO if self.file.path.endswith(".gz") else 1) // ROW_BYTES[self.fmt] + 1
        if self.covers_from is None or self.covers_to is None or self.covers_to <= self.covers_from:
            return rows
        overlap = (min(end, self.covers_to) - max(start, self.covers_from)).total_seconds()
        return max(1, int(rows * max(overlap, 0) / (self.covers_to - self.covers_from).total_seconds()) + 1)


def export_time(name: str) -> datetime | None:
    """The export run's `maxTimestamp` from a file name (`2026-11-20T10-00-00.jsonl` → 2026-11-20 10:00 UTC)."""
    found = _STAMP.search(name)
    if not found:
        return None
    day, hour, minute, second = found.groups()
    return datetime.fromisoformat(f"{day}T{hour}:{minute}:{second}").replace(tzinfo=timezone.utc)


def file_format(name: str) -> str | None:
    """`jsonl`, `csv` or `parquet` from the name (gzip allowed for the text formats), else None."""
    return next((fmt for suffix, fmt in FORMATS.items() if name.endswith(suffix)), None)


def classify(files: list[StoredFile]) -> tuple[list[ExportFile], dict[str, str]]:
    """The export files of the tables read (sorted by folder and time) and, for every other file, why not."""
    kept, skipped = [], {}
    for f in files:
        folder = f.path.rsplit("/", 2)
        table = folder[-2] if len(folder) >= 2 else ""
        fmt = file_format(f.name)
        if table in IGNORED_TABLES:
            skipped[f.path] = IGNORED_TABLES[table]
        elif fmt is None:
            skipped[f.path] = "not a Langfuse export format (.jsonl, .csv, .parquet, optionally .gz)"
        elif table not in (*OBSERVATION_TABLES, SCORES_TABLE):
            skipped[f.path] = f"not under an observations_v2/, observations/ or scores/ folder ({table or 'top'}/)"
        else:
            kept.append((f, table, fmt, export_time(f.name)))
    out, previous = [], {}
    for f, table, fmt, stamp in sorted(kept, key=lambda k: (k[0].path.rpartition("/")[0], k[3] or datetime.min.
                                                               replace(tzinfo=timezone.utc), k[0].path)):
        folder = f.path.rpartition("/")[0]
        # a file without a time in its name may hold any time; it does not bound the next file either
        out.append(ExportFile(f, table, fmt, previous.get(folder) if stamp else None, stamp))
        if stamp:
            previous[folder] = stamp
    return out, skipped


def window_files(files: list[ExportFile], start: datetime, end: datetime) -> list[ExportFile]:
    """The observation files that may hold [start, end): `observations_v2` where the window has any, else the
    legacy `observations` (an export of both sources writes the same observations twice)."""
    held = [f for f in files if f.table in OBSERVATION_TABLES and f.may_hold(start, end)]
    v2 = [f for f in held if f.table == "observations_v2"]
    return v2 or held


def score_files(files: list[ExportFile]) -> list[ExportFile]:
    """Every scores file: a late score (an evaluation, user feedback) may name an observation of any hour."""
    return [f for f in files if f.table == SCORES_TABLE]
