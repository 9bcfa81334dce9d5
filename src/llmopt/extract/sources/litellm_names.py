"""The objects LiteLLM's `s3_v2`/`s3` loggers write, found by their names, and which of them a window reads.

LiteLLM 1.106 names each request's object after the request's start (`integrations/s3.py::get_s3_object_key`,
`utils.get_logging_id`), in the logging process's clock (a naive `datetime.now()`, so UTC in the usual container):

    {s3_path}/[team/][key/]YYYY-MM-DD/[HH/]time-HH-MM-SS-ffffff_{id}.json      one StandardLoggingPayload
    {s3_path}/[team/][key/]YYYY-MM-DD/[HH/]batch_HH-MM-SS_{uuid}.jsonl         `s3_batch_file_upload`: one per line

A batch's name holds the flush time (UTC, time of day only) and its folder the requests' start date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from pyarrow import fs as pafs

from llmopt.extract.sources.objects import StoredFile

OBJECT_NAME = re.compile(r"(?:^|/)(\d{4}-\d{2}-\d{2})/(?:\d{2}/)?time-(\d{2})-(\d{2})-(\d{2})-(\d{6})_(.+)\.json(?:\.gz)?$")
BATCH_NAME = re.compile(r"(?:^|/)(\d{4}-\d{2}-\d{2})/(?:\d{2}/)?batch_(\d{2})-(\d{2})-(\d{2})_\w+\.jsonl(?:\.gz)?$")
DAY_FOLDER = re.compile(r"\d{4}-\d{2}-\d{2}")
# A per-request name is its start, to the microsecond: a window reads exactly its names, plus this margin for a
# clock that ticked between naming and `startTime` (the two come from one datetime in 1.106; none was seen).
NAME_MARGIN = timedelta(seconds=1)
# A batch is flushed after its requests end: at most the contract's latency bound (1 h) after their start, plus
# the logger's retry age of a failed upload (`s3_max_retry_age_seconds`, 3600 s) and a flush interval.
BATCH_LAG = timedelta(hours=2, minutes=1)
PREFIX_DEPTH = 2        # folders above the day folder: the team and key prefixes (`s3_use_team/key_prefix`)


@dataclass(frozen=True)
class LoggedObject:
    """One object: the file, whether it is a batch (JSON lines), its name's time (UTC) and the id in its name."""

    file: StoredFile
    batch: bool
    named_at: datetime
    name_id: str | None

    def candidates(self) -> tuple[datetime, ...]:
        """When a batch may have been flushed: its name gives the time of day, its folder the requests' start day
        (the day before or after, in another clock or past midnight)."""
        if not self.batch:
            return (self.named_at,)
        return tuple(self.named_at + timedelta(days=d) for d in (-1, 0, 1))

    def in_window(self, start: datetime, end: datetime) -> bool:
        """Whether a request of [start, end) may be in this object."""
        if self.batch:
            return any(start <= t < end + BATCH_LAG for t in self.candidates())
        return start - NAME_MARGIN <= self.named_at < end + NAME_MARGIN


def parse_name(file: StoredFile, zone: ZoneInfo) -> LoggedObject | None:
    """The object `file` is by its name (None: not a name LiteLLM writes)."""
    found = OBJECT_NAME.search(file.path)
    if found:
        day, hh, mm, ss, micro, name_id = found.groups()
        local = datetime.fromisoformat(f"{day}T{hh}:{mm}:{ss}.{micro}")
        named = local.replace(tzinfo=timezone.utc) if zone.key == "UTC" else \
            local.replace(tzinfo=zone).astimezone(timezone.utc)
        return LoggedObject(file, False, named, name_id)
    found = BATCH_NAME.search(file.path)
    if found:
        day, hh, mm, ss = found.groups()
        return LoggedObject(file, True, datetime.fromisoformat(f"{day}T{hh}:{mm}:{ss}+00:00"), None)
    return None


def days_of(windows: list[tuple[datetime, datetime]]) -> set[str]:
    """The day folders that may hold a window's objects: a day either side (another clock, a batch's lag)."""
    days: set[str] = set()
    for start, end in windows:
        day: date = (start - timedelta(days=1)).date()
        while day <= (end + timedelta(days=1)).date():
            days.add(day.isoformat())
            day += timedelta(days=1)
    return days


def list_day_folders(filesystem: pafs.FileSystem, base: str, days: set[str]) -> tuple[list[StoredFile], list[str]]:
    """Files in the `days` folders under `base` (through up to PREFIX_DEPTH prefix folders), and the other files
    found on the way (not LiteLLM objects: reported, not read). Only the named days are listed recursively, so a
    bucket of months of logs costs a window a listing of about three days."""
    files, others = [], []

    def walk(folder: str, depth: int) -> None:
        for info in filesystem.get_file_info(pafs.FileSelector(folder, allow_not_found=True)):
            if info.base_name.startswith((".", "_")):
                continue
            if info.type == pafs.FileType.Directory and DAY_FOLDER.fullmatch(info.base_name):
                if info.base_name in days:
                    found = filesystem.get_file_info(pafs.FileSelector(info.path, recursive=True))
                    files.extend(StoredFile(f.path, f.size or 0, f.mtime_ns or 0) for f in found
                                 if f.type == pafs.FileType.File and not f.base_name.startswith((".", "_")))
            elif info.type == pafs.FileType.Directory and depth < PREFIX_DEPTH:
                walk(info.path, depth + 1)
            elif info.type == pafs.FileType.File:
                others.append(info.path)

    walk(base, 0)
    return sorted(files, key=lambda f: f.path), sorted(others)
