"""Scores that arrive later and apart from their requests, joined when a partition is rolled up.

A feedback row is `(request_id, name, value, ts)`: `ts` is when the score was given, at or after its request. A
partition [start, end) takes the scores given in [start, end + feedback_delay_hours) for its requests — the latest
one per request when several arrive — and the score replaces the request's own `quality_score` (a score given
later is the considered one). A score given after the delay is not used: by then the partition's evidence is
settled. The partition's fingerprint covers those scores (count, newest, sum), so a score that lands after the
hour's rollup was written changes it and the hour is rolled up again: pooled evidence stays exact and nothing is
counted twice.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from sqlalchemy import Float, MetaData, String, Table, Column, DateTime, column, select, table

from llmopt.extract.sources.objects import ObjectFiles
from llmopt.extract.sql_time import ts_in_window

FEEDBACK_COLUMNS = ("name", "value", "ts")


@dataclass(frozen=True)
class JoinedFeedback:
    """What a partition took from the feedback: scores joined to its requests and the newest one's time."""

    scores: int = 0
    newest: datetime | None = None


class FeedbackLog:
    """Reads scores from a table in the request database or from files.

    Args:
        settings: the `feedback:` setting (table or path, score name, id column).
        delay_hours: `feedback_delay_hours`.
        engine: the database engine (for `table`).
    """

    def __init__(self, settings, delay_hours: float, engine=None, s3_endpoint_url: str | None = None):
        if not (settings.table or settings.path):
            raise ValueError("feedback: set table (in database_url) or path (files)")
        self.settings, self.delay = settings, timedelta(hours=delay_hours)
        self.engine = engine
        self.files = ObjectFiles(settings.path, (".jsonl", ".json", ".csv", ".parquet"), s3_endpoint_url,
                                 "feedback.path") if settings.path else None

    @staticmethod
    def create_table(engine, name: str) -> Table:
        """The feedback table as llmopt expects it (for tests and for users starting one)."""
        meta = MetaData()
        t = Table(name, meta, Column("request_id", String, index=True), Column("name", String),
                  Column("value", Float), Column("ts", DateTime(timezone=True), index=True))
        meta.create_all(engine, checkfirst=True)
        return t

    def _read(self, start: datetime, end: datetime) -> pd.DataFrame:
        """Scores given in [start, end + delay), of the quality score's name."""
        until = end + self.delay
        key = self.settings.id_column
        if self.settings.table:
            schema, _, name = self.settings.table.rpartition(".")
            query = (select(column(key).label("request_id"), column("name"), column("value"), column("ts"))
                     .select_from(table(name, schema=schema or None))
                     .where(ts_in_window(column("ts", DateTime(timezone=True)), start, until, self.engine.dialect.name)))
            with self.engine.connect() as conn:
                frame = pd.DataFrame(conn.execute(query).all(), columns=["request_id", *FEEDBACK_COLUMNS])
        else:
            frame = self._read_files().rename(columns={key: "request_id"})
        frame = frame.assign(ts=pd.to_datetime(frame["ts"], utc=True, errors="coerce", format="ISO8601"),
                             value=pd.to_numeric(frame["value"], errors="coerce"))
        frame = frame[(frame["ts"] >= pd.Timestamp(start)) & (frame["ts"] < pd.Timestamp(until))
                      & frame["value"].notna() & frame["request_id"].notna()]
        if self.settings.name is not None:
            frame = frame[frame["name"] == self.settings.name]
        return frame

    def _read_files(self) -> pd.DataFrame:
        found = self.files.list()
        frames = []
        for f, data in zip(found, self.files.read(found)):
            plain = f.name.removesuffix(".gz")
            if plain.endswith(".parquet"):
                frames.append(pq.read_table(io.BytesIO(data)).to_pandas())
            elif plain.endswith(".csv"):
                frames.append(pa_csv.read_csv(io.BytesIO(data)).to_pandas())
            else:
                frames.append(pd.read_json(io.BytesIO(data), lines=True, dtype=False))
        columns = [self.settings.id_column, *FEEDBACK_COLUMNS]
        return pd.concat([f[[c for c in columns if c in f]] for f in frames], ignore_index=True) if frames \
            else pd.DataFrame(columns=columns)

    def fingerprint(self, start: datetime, end: datetime) -> str:
        """A digest of the scores a partition [start, end) would take: count, newest time, sum of values."""
        scores = self._read(start, end)
        text = f"{len(scores)} {scores['ts'].max()} {scores['value'].sum():.12g}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def join(self, frame: pd.DataFrame, start: datetime, end: datetime) -> tuple[pd.DataFrame, JoinedFeedback]:
        """`frame` with `quality_score` set from the latest score of each of its requests."""
        if frame.empty or "request_id" not in frame.columns:
            return frame, JoinedFeedback()
        scores = self._read(start, end).sort_values("ts").drop_duplicates("request_id", keep="last")
        latest = scores.set_index("request_id")
        matched = frame["request_id"].astype(str).map(latest["value"])
        joined = int(matched.notna().sum())
        if not joined:
            return frame, JoinedFeedback()
        own = frame["quality_score"] if "quality_score" in frame.columns else pd.Series(float("nan"), index=frame.index)
        newest = latest.loc[latest.index.isin(frame["request_id"].astype(str)), "ts"].max()
        return (frame.assign(quality_score=matched.where(matched.notna(), pd.to_numeric(own, errors="coerce"))),
                JoinedFeedback(joined, newest.to_pydatetime()))
