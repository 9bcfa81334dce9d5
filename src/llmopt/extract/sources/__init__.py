"""Request sources: where a run reads its request log, one module per format, found by a registry.

Every source turns what a tool wrote into the contract's columns (`llmopt.extract.schema`) and answers the five
questions the engine asks of it (`RequestSource`). The lookback, the contract, the quarantine and the rollups are
the same for all of them. A new format is one module that decorates its opener with `@register("<kind>")` and one
model in `config.py`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from importlib import import_module
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:       # settings import this package: keep pandas out of a plain `llmopt --help`
    import pandas as pd
    import pyarrow as pa

SOURCE_FILE = "source_file"     # the file or object a row came from: kept with a quarantined row
BUILTIN_SOURCES = ("sql", "lake", "litellm", "otel", "langfuse")     # modules of this package, imported on demand


@runtime_checkable
class RequestSource(Protocol):
    """What the engine reads of a request log, one window at a time (windows are half-open: start ≤ ts < end).

    A source may also offer `counts_and_fingerprints(windows) -> [(rows, digest)]`, the two answers from one scan;
    `counted_fingerprints` uses it where it exists.
    """

    def present_columns(self) -> list[str]:
        """The contract columns this source can give (an optional column it lacks is null in every row)."""

    def row_counts(self, windows: list[tuple[datetime, datetime]]) -> list[int]:
        """Rows per window: exact, or an upper estimate where only reading tells (it only sizes partitions)."""

    def fingerprints(self, windows: list[tuple[datetime, datetime]]) -> list[str]:
        """Per window, a digest that changes when a row of it is added, removed or edited (and only then)."""

    def read_partition(self, start: datetime, end: datetime, columns: list[str]) -> "pd.DataFrame":
        """The window's rows as contract columns (only `columns` the source has), plus `source_file` if known."""

    def read_table(self, start: datetime, end: datetime, columns: list[str]) -> "pa.Table | None":
        """`read_partition` as Arrow for the columnar engine; None when only `read_partition` can read this window
        (e.g. text `ts` in a CSV file, values whose type changes in a SQLite column)."""


def counted_fingerprints(source: RequestSource, windows: list[tuple[datetime, datetime]]) -> tuple[list[int], list[str]]:
    """`row_counts` and `fingerprints` of the windows: from one scan per window where the source offers it
    (`counts_and_fingerprints`: a SQL digest holds the count), else the two calls."""
    both = getattr(source, "counts_and_fingerprints", None)
    if both is None:
        return source.row_counts(windows), source.fingerprints(windows)
    pairs = both(windows)
    return [n for n, _ in pairs], [f for _, f in pairs]


Opener = Callable[..., RequestSource]
_OPENERS: dict[str, Opener] = {}


def register(kind: str) -> Callable[[Opener], Opener]:
    """Class or function decorator: `opener(source_settings, settings, engine)` builds the source of `kind`."""
    def wrap(opener: Opener) -> Opener:
        _OPENERS[kind] = opener
        return opener
    return wrap


def open_request_source(settings, engine=None) -> RequestSource:
    """The source `settings.source` names (default: `requests_path` files if set, else the SQL table)."""
    config = effective_source(settings)
    if config.kind not in _OPENERS:
        import_module(f"{__name__}.{config.kind}")
    return _OPENERS[config.kind](config, settings, engine)


def effective_source(settings):
    """`settings.source`, or what the older flat settings mean (`requests_path` → a lake, else the SQL table)."""
    from llmopt.extract.sources.config import LakeSource, SqlSource

    if settings.source is not None:
        return settings.source
    if settings.requests_path:
        return LakeSource(path=settings.requests_path, format=settings.requests_format)
    return SqlSource()


def source_key(settings) -> str:
    """A short, stable name of the configured source, e.g. `litellm-3f2a9c01`: rollups of two sources never mix."""
    config = effective_source(settings)
    identity = config.model_dump_json() + (settings.database_url if config.kind in ("sql", "litellm") else "") + \
        (settings.requests_table if config.kind == "sql" else "")
    return f"{config.kind}-{hashlib.sha256(identity.encode()).hexdigest()[:8]}"
