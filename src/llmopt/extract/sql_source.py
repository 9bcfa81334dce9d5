"""The metrics source: the request log in any SQLAlchemy database (SQLite, PostgreSQL)."""

from __future__ import annotations

import hashlib
import logging
import json
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
from sqlalchemy import DateTime, MetaData, column, create_engine, delete, func, inspect, select, table, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DatabaseError, OperationalError

from llmopt.domain import utc as _utc
from llmopt.extract.adbc import READ_PARTS, adbc_errors, read_arrow
from llmopt.extract.schema import quarantine_table, requests_table
from llmopt.extract.sql_time import ts_at_or_after, ts_in_window

FETCH_CHUNK_ROWS = 200_000
log = logging.getLogger(__name__)


class NotADatabase(ValueError):
    """`database_url` names a file that SQLite cannot read as a database (corrupt, or another kind of file)."""


def missing_sqlite_file(engine: Engine) -> Path | None:
    """The SQLite file `engine` names if it does not exist (connecting would create an empty one), else None."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or database in (None, "", ":memory:") or database.startswith("file:"):
        return None
    path = Path(database)
    return None if path.exists() else path


def open_engine(database_url: str, timeout_seconds: float = 30, statement_timeout_seconds: float = 900) -> Engine:
    """A SQLAlchemy engine for `database_url`, its waits bounded (creating it touches no file).

    PostgreSQL: `connect_timeout` and a server-side `statement_timeout`; SQLite: the busy timeout of a locked file.
    """
    url = make_url(database_url)
    connect_args: dict = {}
    if url.get_backend_name() == "sqlite":
        connect_args = {"timeout": timeout_seconds}
    elif url.get_backend_name() == "postgresql":
        connect_args = {"connect_timeout": max(1, round(timeout_seconds)),
                        "options": f"-c statement_timeout={round(statement_timeout_seconds * 1000)}"}
    return create_engine(url, connect_args=connect_args, pool_pre_ping=True)


class SqlRequestLog:
    """Reads windows of the request log and writes quarantined rows, through SQLAlchemy.

    Args:
        database_url: SQLAlchemy URL, e.g. `sqlite:///.llmopt/requests.db` or `postgresql+psycopg://…`.
        table_name: the request log table.
        quarantine_table_name: where rows that break a row-level expectation are kept, with reasons.
    """

    def __init__(self, database_url: str, table_name: str, quarantine_table_name: str, engine: Engine | None = None):
        self.engine = engine if engine is not None else open_engine(database_url)
        self.table_name = table_name
        self._metadata = MetaData()
        self._requests = requests_table(table_name, self._metadata)
        self._quarantine = quarantine_table(quarantine_table_name, self._metadata)
        self._tables_ready = False

    @property
    def requests(self):
        """The request log as a SQLAlchemy table, for queries aggregated in the database."""
        return self._requests

    def ensure_tables(self) -> None:
        """Create the request log and quarantine tables if they do not exist yet (checked once per instance)."""
        if not self._tables_ready:
            if (missing := missing_sqlite_file(self.engine)) is not None:     # writing creates it, folder too
                missing.parent.mkdir(parents=True, exist_ok=True)
            self._metadata.create_all(self.engine, checkfirst=True)
            self._tables_ready = True

    def require_file(self) -> None:
        """Check that the SQLite file `database_url` names exists (a read never creates it); no connection is made.

        Raises:
            LookupError: the file does not exist.
        """
        if (missing := missing_sqlite_file(self.engine)) is not None:
            raise LookupError(f"database_url {self.engine.url.render_as_string(hide_password=True)}: no SQLite file "
                              f"at {missing.resolve()} (llmopt reads the request log there and does not create it)")

    def present_columns(self) -> list[str]:
        """Names of the columns the request log table has (empty if the table is missing).

        Raises:
            LookupError: `database_url` names a SQLite file that does not exist (a read never creates it).
        """
        self.require_file()
        schema, _, name = self.table_name.rpartition(".")
        try:
            insp = inspect(self.engine)
            if not insp.has_table(name, schema=schema or None):
                return []
            return [c["name"] for c in insp.get_columns(name, schema=schema or None)]
        except DatabaseError as err:       # sqlite3: "file is not a database", "database disk image is malformed"
            if self.engine.dialect.name != "sqlite" or isinstance(err, OperationalError):
                raise
            raise NotADatabase(f"database_url {self.engine.url.render_as_string(hide_password=True)}: "
                               f"{err.orig}") from None

    def _window_query(self, columns: Iterable[str], start: datetime, end: datetime):
        schema, _, name = self.table_name.rpartition(".")
        ts = column("ts", DateTime(timezone=True))
        # Untyped result columns: no per-row datetime parsing in Python; pandas parses ts in one go.
        return (select(*[column(c) for c in columns]).select_from(table(name, schema=schema or None))
                .where(ts_in_window(ts, start, end, self.engine.dialect.name)))

    def count_window(self, start: datetime, end: datetime) -> int:
        """Rows in [start, end), counted in the database."""
        query = self._window_query(["request_id"], start, end).with_only_columns(func.count())
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def latest_ts(self) -> datetime | None:
        """Timestamp of the newest request, or None if the log is empty or missing (its file included)."""
        if missing_sqlite_file(self.engine) is not None or not self.present_columns():
            return None
        with self.engine.connect() as conn:
            value = conn.execute(select(func.max(self._requests.c.ts))).scalar_one()
        return None if value is None else _utc(pd.Timestamp(value).to_pydatetime())

    def fingerprints(self, windows: list[tuple[datetime, datetime]]) -> list[str]:
        """Per window, a digest of its rows computed in the database (count, ts range, column sums): a late, deleted
        or edited row (latency, token count, score) changes its window's digest."""
        present = self.present_columns()
        if "ts" not in present:       # no table, or no ts: reading the window reports it
            return ["no ts"] * len(windows)
        return [digest for _, digest in self._digests(windows, present)]

    def row_counts(self, windows: list[tuple[datetime, datetime]]) -> list[int]:
        """Rows per window, counted in the database (0 without a ts column: the contract reports it); LookupError
        when the table does not exist (a typo in `requests_table` is not "no traffic")."""
        if "ts" not in self._present_or_raise():
            return [0] * len(windows)
        return [self.count_window(start, end) for start, end in windows]

    def counts_and_fingerprints(self, windows: list[tuple[datetime, datetime]]) -> list[tuple[int, str]]:
        """`row_counts` and `fingerprints` from one scan per window (the digest's first term is the count)."""
        present = self._present_or_raise()
        return self._digests(windows, present) if "ts" in present else [(0, "no ts")] * len(windows)

    def _present_or_raise(self) -> list[str]:
        if not (present := self.present_columns()):
            url = self.engine.url.render_as_string(hide_password=True)
            raise LookupError(f"requests_table {self.table_name!r} not found in database_url {url}")
        return present

    def _digests(self, windows: list[tuple[datetime, datetime]], present: list[str]) -> list[tuple[int, str]]:
        summed = [n for n in ("latency_ms", "prompt_tokens", "completion_tokens", "quality_score") if n in present]
        digest = [func.count(), func.min(column("ts")), func.max(column("ts")), *(func.sum(column(n)) for n in summed)]
        out = []
        with self.engine.connect() as conn:
            for start, end in windows:
                row = conn.execute(self._window_query(["request_id"], start, end).with_only_columns(*digest)).one()
                out.append((int(row[0]), hashlib.sha256(repr(tuple(row)).encode()).hexdigest()))
        return out

    def rows_after(self, moment: datetime, limit: int = 10_000) -> pd.DataFrame:
        """Up to `limit` rows whose ts sorts at or after `moment`: stamped in the future, or (SQLite keeps text)
        not a timestamp at all. No window will ever read them; the caller quarantines them."""
        if "ts" not in self.present_columns():
            return pd.DataFrame()
        schema, _, name = self.table_name.rpartition(".")
        query = (select(text("*")).select_from(table(name, schema=schema or None))
                 .where(ts_at_or_after(column("ts", DateTime(timezone=True)), moment, self.engine.dialect.name))
                 .limit(limit))
        with self.engine.connect() as conn:
            result = conn.execute(query)
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()))

    def read_table(self, start: datetime, end: datetime, columns: list[str]):
        """The rows of `read_partition` as Arrow, through the database's ADBC driver (SQLite, PostgreSQL): the
        window is cut in the database and rows arrive in columns, with no per-row Python. None when there is no
        driver for the database, or a column's values change type (SQLite keeps `'abc'` in an INTEGER column):
        `read_partition` then reads it, and the contract names the values."""
        present = set(self.present_columns())
        wanted = [c for c in columns if c in present]
        if not wanted or "ts" not in present or self.engine.dialect.name not in ("sqlite", "postgresql"):
            return None
        cuts = [start + (end - start) * i / READ_PARTS for i in range(READ_PARTS)] + [end]
        cuts = [cuts[0], *(c.replace(microsecond=0) for c in cuts[1:-1]), cuts[-1]]   # whole seconds inside
        queries = [str(self._window_query(wanted, a, b).compile(dialect=self.engine.dialect,
                                                                compile_kwargs={"literal_binds": True}))
                   for a, b in zip(cuts, cuts[1:]) if a < b]
        try:
            return read_arrow(self.engine.url, queries)
        except (*adbc_errors(), pa.ArrowInvalid, pa.ArrowTypeError) as err:
            log.info("ADBC read of %s fell back to the DBAPI read: %s", self.table_name, err)
            return None

    def read_partition(self, start: datetime, end: datetime, columns: list[str]) -> pd.DataFrame:
        """The rows of one partition (see `extract_window`)."""
        return self.extract_window(start, end, columns)

    def extract_window(self, start: datetime, end: datetime, columns: Iterable[str],
                       progress: Callable[[int], None] | None = None) -> pd.DataFrame:
        """Read the rows with `start <= ts < end`, only `columns` that the table has.

        The window filter runs in the database (an index on ts serves it). Columns the table
        lacks are left out here and reported by the contract as a batch-level breach.
        """
        present = set(self.present_columns())
        wanted = [c for c in columns if c in present]
        if not wanted or "ts" not in present:     # the contract names what is missing
            return pd.DataFrame(columns=wanted)
        compiled = self._window_query(wanted, start, end).compile(dialect=self.engine.dialect)
        # Bind values go through SQLAlchemy's type processors (SQLite stores ts as text), but
        # rows come straight from the DBAPI cursor: SQLAlchemy Row objects cost ~3x the time.
        params = compiled.construct_params()
        processors = compiled._bind_processors
        params = {k: processors[k](v) if k in processors else v for k, v in params.items()}
        if compiled.positional:
            params = tuple(params[k] for k in compiled.positiontup)
        frames = []
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(str(compiled), params)
            read = 0
            while rows := cursor.fetchmany(FETCH_CHUNK_ROWS):
                frames.append(pd.DataFrame.from_records(rows, columns=wanted))
                read += len(rows)
                if progress:
                    progress(read)
            cursor.close()
        finally:
            raw.close()
        if not frames:
            return pd.DataFrame(columns=wanted)
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        return frame

    def append(self, frame: pd.DataFrame, chunk_rows: int = 50_000) -> int:
        """Insert request rows (contract columns only); returns the number written."""
        self.ensure_tables()
        present = set(self.present_columns())     # an older table may lack the optional columns
        cols = [c for c in self._requests.columns.keys() if c in frame.columns and c in present]
        out = frame[cols]
        schema, _, name = self.table_name.rpartition(".")
        with self.engine.begin() as conn:
            out.to_sql(name, conn, schema=schema or None, if_exists="append", index=False,
                       chunksize=chunk_rows)
        return len(out)

    def existing_request_ids(self, request_ids: list[str], batch: int = 5_000) -> set[str]:
        """Which of `request_ids` the log already holds (for idempotent ingest)."""
        found: set[str] = set()
        with self.engine.connect() as conn:
            for i in range(0, len(request_ids), batch):
                chunk = request_ids[i:i + batch]
                rows = conn.execute(select(self._requests.c.request_id)
                                    .where(self._requests.c.request_id.in_(chunk)))
                found.update(r[0] for r in rows)
        return found

    def replace_quarantine(self, source: str, rejected: pd.DataFrame) -> int:
        """Store rejected rows under `source`, replacing what an earlier run stored for it.

        Args:
            source: what the rows came from, e.g. `window 2026-11-22T10:00/…`; a re-run replaces it.
            rejected: the rows as read, with a `reason` column.
        """
        self.ensure_tables()
        now = datetime.now(timezone.utc)
        payload_cols = [c for c in rejected.columns if c != "reason"]
        records = [
            {"request_id": None if pd.isna(r.get("request_id")) else str(r.get("request_id")),
             "ts": None if pd.isna(r.get("ts")) else str(r.get("ts")),
             "reason": r["reason"],
             "row_json": json.dumps({c: r[c] for c in payload_cols}, default=str),
             "source": source, "quarantined_at": now}
            for r in rejected.astype(object).where(rejected.notna(), None).to_dict("records")
        ]
        with self.engine.begin() as conn:
            conn.execute(delete(self._quarantine).where(self._quarantine.c.source == source))
            if records:
                conn.execute(self._quarantine.insert(), records)
        return len(records)

    def read_quarantine(self, source: str | None = None) -> pd.DataFrame:
        """Quarantined rows, optionally only those of one `source`."""
        query = select(self._quarantine)
        if source is not None:
            query = query.where(self._quarantine.c.source == source)
        with self.engine.connect() as conn:
            return pd.DataFrame(conn.execute(query).mappings().all())
