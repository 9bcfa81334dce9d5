"""One optimizing run per window: a lock held for the whole run, released by the database or the OS on a crash.

PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) on a connection kept open for the run; the
server drops it when that connection dies (kill -9 included), so a crashed run never blocks a re-run. SQLite:
an exclusive `flock` of a file beside the database (SQLite is local to one machine), which the kernel drops
when the process dies. Runs of one window on one config store share the lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from llmopt.domain import Window, redact_url


class WindowBusy(Exception):
    """Another run holds the window's lock."""


class DatabaseUnavailable(RuntimeError):
    """The request database did not answer (names the setting and the redacted URL)."""


def lock_key(window: Window, config_store_uri: str) -> str:
    return f"llmopt:{config_store_uri}:{window.start.isoformat()}:{window.end.isoformat()}"


@contextmanager
def window_lock(engine: Engine, key: str, holder: str, timeout_seconds: float) -> Iterator[None]:
    """Hold the lock named `key` for the body.

    Raises:
        WindowBusy: another live run holds it (the message names that run where the database can tell).
        DatabaseUnavailable: the database did not answer within its timeout.
    """
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, key, timeout_seconds):
            yield
    else:
        with _file_lock(engine, key, holder):
            yield


@contextmanager
def _advisory_lock(engine: Engine, key: str, timeout_seconds: float) -> Iterator[None]:
    number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
    try:
        conn = engine.connect()
    except OperationalError as err:
        raise unavailable(engine, timeout_seconds, err) from None
    try:
        if not conn.execute(text("SELECT pg_try_advisory_lock(:n)"), {"n": number}).scalar():
            raise WindowBusy("another run of this window holds its PostgreSQL advisory lock")
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:n)"), {"n": number})
            conn.commit()
    finally:
        conn.close()


def lock_file(engine: Engine, key: str) -> Path:
    """Where a SQLite database's run lock `key` lives: a file beside the database, holding its holder as JSON."""
    database = engine.url.database
    folder = (Path(database).resolve().parent if database not in (None, "", ":memory:")
              else Path(tempfile.gettempdir())) / ".llmopt-locks"
    return folder / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.lock"


@contextmanager
def _file_lock(engine: Engine, key: str, holder: str) -> Iterator[None]:
    path = lock_file(engine, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    _prune(path.parent)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            raise WindowBusy(f"another run of this window holds {path} ({f.read().strip() or 'starting'})") from None
        f.truncate(0)
        f.write(json.dumps({"holder": holder, "pid": os.getpid(),
                            "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}))
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _prune(folder: Path, keep_seconds: float = 2 * 24 * 3600) -> None:
    """Remove lock files of windows last run over two days ago (one file per window would pile up hourly)."""
    old = time.time() - keep_seconds
    for path in folder.glob("*.lock"):
        try:
            if path.stat().st_mtime < old:
                path.unlink()
        except FileNotFoundError:
            pass


def unavailable(engine: Engine, timeout_seconds: float, err: Exception) -> DatabaseUnavailable:
    """The one-line error for a database that refused or did not answer."""
    reason = str(getattr(err, "orig", None) or err).strip().splitlines()
    return DatabaseUnavailable(f"database at {engine.url.render_as_string(hide_password=True)} "
                               f"(setting database_url) did not answer within {timeout_seconds:g} s: "
                               f"{redact_url(reason[0] if reason else type(err).__name__)[:200]}")
