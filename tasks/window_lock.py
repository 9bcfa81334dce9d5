"""Hold the run's window: one optimizing run per window and config store (see `llmopt.decide.run_lock`)."""

from contextlib import contextmanager
from typing import Iterator

from prefect import get_run_logger

from llmopt.decide.run_lock import WindowBusy, lock_key, window_lock
from llmopt.domain import Window
from llmopt.extract.sql_source import SqlRequestLog
from llmopt.resources import open_resources
from llmopt.settings import Settings


@contextmanager
def hold_window(settings: Settings, window: Window, holder: str | None, dry_run: bool) -> Iterator[str | None]:
    """Hold the window's lock for the body; yields None when held (or a dry run, which publishes nothing),
    else why another run holds it.

    Raises:
        DatabaseUnavailable: the database that keeps the lock did not answer.
    """
    if dry_run:
        yield None
        return
    res = open_resources(settings)
    if isinstance(res.request_source, SqlRequestLog):
        res.request_source.require_file()   # a missing SQLite file is an error here, before a lock file is made
    try:
        with window_lock(res.engine, lock_key(window, settings.config_store_uri), holder or "llmopt",
                         settings.database_timeout_seconds):
            yield None
    except WindowBusy as busy:
        get_run_logger().warning("window %s is being optimized by another run: %s; this run does nothing",
                                 window.label, busy)
        yield str(busy)
