"""The `start <= ts < end` predicate of the request log, exact on every way SQLite may hold a timestamp.

PostgreSQL stores `ts` as `timestamptz`, so the bound values compare as instants. SQLite keeps whatever text was
inserted and compares it as text: `'2026-11-01 10:00:00+00:00'` sorts *before* SQLAlchemy's bound
`'2026-11-01 10:00:00.000000'` (`'+'` < `'.'`), so a row stamped exactly on the hour fell into the previous
hour. Bounds at whole-second resolution and without a suffix sort correctly against every UTC form of ISO 8601
a writer produces — any fraction (none, ms, µs, ns), any suffix (none, `Z`, `+00:00`) — because such a row
either equals the bound or extends it. The `T` separator sorts after the space one, so each bound is also given
in that form (two index range scans, OR'd, each keeping only rows of its own separator; a row with neither
sorts with the space form, as before). A non-UTC offset still sorts by its local time: its hour reads it and
the contract quarantines it as "outside the hour it is stored under" (never lost).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, and_, bindparam, func, or_

from llmopt.domain import utc


def _text(moment: datetime, sep: str) -> str:
    moment = utc(moment)
    fraction = f".{moment.microsecond:06d}".rstrip("0") if moment.microsecond else ""
    return moment.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + fraction


def ts_in_window(ts, start: datetime, end: datetime, dialect: str, name: str = "w"):
    """`start <= ts < end` on the column expression `ts`, for the database `dialect` (`sqlite`, `postgresql`…)."""
    if dialect != "sqlite":
        return and_(ts >= bindparam(f"{name}_start", utc(start), type_=DateTime(timezone=True)),
                    ts < bindparam(f"{name}_end", utc(end), type_=DateTime(timezone=True)))
    # each form's range holds only its own form: across midnight, ['D1T23:00', 'D2T00:00') also spans 'D2 …'
    is_t = func.substr(ts, 11, 1) == "T"
    return or_(*(and_(ts >= bindparam(f"{name}_start{i}", _text(start, sep), type_=String),
                      ts < bindparam(f"{name}_end{i}", _text(end, sep), type_=String), form)
                 for i, (sep, form) in enumerate(((" ", ~is_t), ("T", is_t)))))


def ts_at_or_after(ts, moment: datetime, dialect: str, name: str = "m"):
    """`ts >= moment`; on SQLite also every text that is not a timestamp (it sorts after the digits)."""
    if dialect != "sqlite":
        return ts >= bindparam(name, utc(moment), type_=DateTime(timezone=True))
    day_t = utc(moment).strftime("%Y-%m-%dT")
    # a 'T'-separated stamp of the same day sorts after every space-separated one: compare it in its own form
    return and_(ts >= bindparam(f"{name}_sp", _text(moment, " "), type_=String),
                or_(ts >= bindparam(f"{name}_t", _text(moment, "T"), type_=String),
                    ts < bindparam(f"{name}_day", day_t, type_=String)))
