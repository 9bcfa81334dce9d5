"""Progress of a run's lookback: partitions read of those to read, rows, rows/s and the time left.

One line per wave of partitions, for Prefect's log and CI; the CLI draws the same figures as a bar in place when
its console is a terminal (`llmopt.cli.console`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from llmopt.rollup.pool import EvidencePool

BAR_WIDTH = 24


@dataclass(frozen=True)
class LookbackProgress:
    """Where the lookback's reading stands."""

    done: int                   # partitions read in this run
    total: int                  # partitions this run reads (the window's own included)
    reused: int                 # partitions whose stored rollup was reused, not read
    empty: int                  # partitions with no rows (counted empty and skipped, or read empty)
    rows: int
    seconds: float

    @classmethod
    def of(cls, pool: EvidencePool, now: float | None = None) -> LookbackProgress:
        return cls(pool.read, len(pool.pending), pool.reused, pool.empty + pool.skipped_empty, pool.rows_read,
                   (now if now is not None else time.time()) - pool.started)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def seconds_left(self) -> float | None:
        """The time left at the pace so far (partitions per second); None before the first partition."""
        if not self.done:
            return None
        return self.seconds / self.done * (self.total - self.done)

    @property
    def finished(self) -> bool:
        return self.done >= self.total

    def bar(self) -> str:
        filled = round(BAR_WIDTH * self.done / self.total) if self.total else BAR_WIDTH
        return "[" + "#" * filled + "-" * (BAR_WIDTH - filled) + "]"

    def line(self) -> str:
        """e.g. `read 6/24 partitions (2 empty; 0 reused) · 1,204,000 rows · 98,000 rows/s · ~54 s left`."""
        left = self.seconds_left
        eta = "done" if self.finished else ("…" if left is None else f"~{_duration(left)} left")
        return (f"read {self.done}/{self.total} partitions ({self.empty} empty; {self.reused} reused) · "
                f"{self.rows:,} rows · {self.rows_per_second:,.0f} rows/s · {_duration(self.seconds)} · {eta}")


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"
