"""Pool the rollups of the lookback into the evidence every strategy decides on.

Memory stays bounded by one partition: rollups are folded in one at a time, the cells are small, and the
pooled sample is thinned to `max_sample_rows` as it grows (a bottom-k sample merges by lowering τ).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd

from llmopt.domain import Window
from llmopt.rollup.drift import DriftFinding, drift_windows, find_drift_in_windows
from llmopt.rollup.partition import CELL_KEYS, SAMPLE_KEY, SUM_COLUMNS, Partition, PartitionRollup, merge_sketches
from llmopt.settings import Policy
from llmopt.warm_imports import head_start_pays


@dataclass
class EvidencePool:
    """The rollups of one run's lookback, folded in as they arrive."""

    window: Window
    max_sample_rows: int
    cells: list[pd.DataFrame] = field(default_factory=list)
    samples: list[tuple] = field(default_factory=list)          # (partition start, its sample, thinned to τ lazily)
    held: int = 0                                               # sample rows held (≤ 1.25 × max_sample_rows + one)
    threshold: float = 1.0
    rows_valid: int = 0
    partitions: int = 0
    reused: int = 0
    newest: list[PartitionRollup] = field(default_factory=list)   # the run's own window (validated in this run)
    pending: list[tuple[Partition, str]] = field(default_factory=list)   # partitions to read, with fingerprints
    pending_rows: int | None = None        # rows the source counted in the pending partitions (None: not counted)
    seconds: dict[str, float] = field(default_factory=dict)    # read / validate / reduce, summed over partitions
    excluded: list[tuple[str, str]] = field(default_factory=list)   # (partition key, why) left out of the evidence
    workers: set[str] = field(default_factory=set)                  # host:pid of each process that read a partition
    planner: str = ""                                               # host:pid of the process that planned the run
    read: int = 0                                                   # partitions read from the source in this run
    rows_read: int = 0                                              # … and their rows, for progress
    empty: int = 0                                                  # … of which had no rows
    skipped_empty: int = 0                                          # earlier partitions counted empty, not read
    started: float = field(default_factory=time.time)               # when planning began (wall clock: it is pickled)
    feedback_scores: int = 0                                        # late scores joined, over the lookback
    newest_score: str | None = None

    @property
    def head_start_pays(self) -> bool:
        """Whether the later steps' imports pay off alongside the pending partitions (`warm_imports`)."""
        return head_start_pays(len(self.pending), self.pending_rows)

    def waves(self, size: int) -> list[list[tuple[Partition, str]]]:
        """The pending partitions, `size` at a time (memory ∝ size × a partition)."""
        return [self.pending[i:i + size] for i in range(0, len(self.pending), size)]

    def add_empty(self) -> None:
        """An earlier partition the source counted no rows in: it adds nothing but its count."""
        self.partitions += 1
        self.skipped_empty += 1

    def lower_threshold(self, thresholds: list[float], rows_valid: int) -> None:
        """Start τ where rollups with these thresholds and valid rows (to be added) will bring it: the pooled
        sample is the same, each added sample just starts at its final size."""
        self.threshold = min([self.threshold, *thresholds, self.max_sample_rows / max(rows_valid, 1)])

    def add(self, rollup: PartitionRollup) -> None:
        part = rollup.partition
        self.partitions += 1
        self.reused += int(rollup.reused)
        self.rows_valid += rollup.rows_valid
        for stage, secs in rollup.seconds.items():
            self.seconds[stage] = self.seconds.get(stage, 0.0) + secs
        if rollup.excluded:
            self.excluded.append((part.key, rollup.excluded))
        if rollup.worker:
            self.workers.add(rollup.worker)
        self.feedback_scores += rollup.feedback_scores
        if rollup.newest_score and (self.newest_score is None or rollup.newest_score > self.newest_score):
            self.newest_score = rollup.newest_score
        if not rollup.reused:
            self.read += 1
            self.rows_read += rollup.rows_read
            self.empty += int(rollup.rows_read == 0)
        if part.start >= self.window.start and part.end <= self.window.end:
            # the report keeps the window's counts and reasons, not its rows
            self.newest.append(PartitionRollup(part, rollup.fingerprint, rollup.cells.iloc[:0], rollup.sample.iloc[:0],
                                               rollup.sample_threshold, rollup.rows_read, rollup.rows_quarantined,
                                               rollup.reasons, rollup.expectation_results, rollup.reused))
        if not rollup.cells.empty:
            self.cells.append(rollup.cells.assign(start=part.start, end=part.end))
        # τ = min of every partition's τ and of the bound on the pooled sample's size
        self.threshold = min(self.threshold, rollup.sample_threshold,
                             self.max_sample_rows / max(self.rows_valid, 1))
        sample = rollup.sample
        if len(sample) and sample[SAMPLE_KEY].max() >= self.threshold:
            sample = sample[sample[SAMPLE_KEY] < self.threshold]
        self.samples.append((part.start, sample))
        self.held += len(sample)
        if self.held > 1.25 * self.max_sample_rows:  # thin the earlier samples to τ now and then: O(n) overall
            self.samples = [(at, s[s[SAMPLE_KEY] < self.threshold]) for at, s in self.samples]
            self.held = sum(len(s) for _, s in self.samples)


@dataclass(frozen=True)
class PooledEvidence:
    """The lookback's evidence: pooled cells (exact sums), a uniform sample, and the window's validation report.

    Attributes:
        cells: per (service, task_type, model): the summed statistics, `hours` pooled, `start`/`end` of the
            pooled span and observed latency quantiles from the merged sketches.
        sample: a uniform sample of the pooled valid rows (for the fits and the row-level strategies).
        sample_hours: the hours of traffic the sample stands for (pooled hours × sampling rate).
        drift: cells whose recent hours differ from the rest; their tasks use the recent hours alone.
    """

    cells: pd.DataFrame
    sample: pd.DataFrame
    sample_hours: float
    lookback_hours: float
    partitions: int
    reused: int
    rows_pooled: int
    drift: list[DriftFinding]
    seconds: dict[str, float]
    rows_read: int
    rows_quarantined: int
    reasons: dict[str, int]
    expectation_results: list[dict]
    excluded: list[tuple[str, str]] = field(default_factory=list)   # earlier hours left out: (key, breach)
    workers: list[str] = field(default_factory=list)                # host:pid of the processes that read partitions
    planner: str = ""                                               # host:pid of the flow's own process
    feedback: dict = field(default_factory=dict)                    # late scores joined: count, newest

    @property
    def valid(self) -> pd.DataFrame:       # what the report's plots and the model signatures read
        return self.sample

    @property
    def bad_row_share(self) -> float:
        return self.rows_quarantined / self.rows_read if self.rows_read else 0.0

    @property
    def empty(self) -> bool:
        return self.cells.empty

    def describe(self, service: str, task_type: str) -> str:
        """The hours and rows a task's decision pooled, and any drift it met, in one line."""
        cells = self.cells[(self.cells["service"] == service) & (self.cells["task_type"] == task_type)]
        if cells.empty:
            return "no pooled evidence"
        first, last = cells["start"].min(), cells["end"].max()
        text = (f"pooled {cells['hours'].max():g} h ({first:%Y-%m-%d %H:%M} → {last:%Y-%m-%d %H:%M} UTC), "
                f"{int(cells['requests'].sum()):,} requests, {int(cells['scored'].sum()):,} scored")
        drift = [str(d) for d in self.drift if (d.service, d.task_type) == (service, task_type)]
        return text + ("; " + "; ".join(drift) if drift else "")


def pool_evidence(pool: EvidencePool, policy: Policy) -> PooledEvidence:
    """The pooled evidence of each service's lookback, with the drift guard applied."""
    window = pool.window
    newest = pool.newest
    reasons: dict[str, int] = {}
    for r in newest:
        for k, v in r.reasons.items():
            reasons[k] = reasons.get(k, 0) + v
    report = dict(rows_read=sum(r.rows_read for r in newest), rows_quarantined=sum(r.rows_quarantined for r in newest),
                  reasons=reasons, expectation_results=[e for r in newest for e in r.expectation_results],
                  excluded=sorted(pool.excluded), workers=sorted(pool.workers), planner=pool.planner,
                  feedback={"scores_joined": pool.feedback_scores, "newest_score": pool.newest_score})
    if not pool.cells:
        return PooledEvidence(pd.DataFrame(columns=CELL_KEYS), pd.DataFrame(), 0.0, 0.0, pool.partitions, pool.reused,
                              0, [], pool.seconds, **report)
    cells = pd.concat(pool.cells, ignore_index=True)
    lookback = _lookback_hours(cells["service"], policy)
    cells = cells[cells["end"] > window.end - pd.to_timedelta(lookback, unit="h")]
    drift = find_drift_in_windows(cells, window.end, drift_windows(policy.drift_recent_hours,
                                  policy.drift_short_hours), policy.drift_alpha)
    decided = {(d.service, d.task_type): d.decided_hours for d in drift}    # a drifted task: its recent hours
    cells = cells[_after_drift(cells, cells["start"], decided, window.end)]
    # hours pooled per service: from its first partition with traffic to the window's end
    first = cells.groupby("service")["start"].transform("min")
    cells = cells.assign(hours=(window.end - first).dt.total_seconds() / 3600.0)
    limit = _decided_hours(cells, decided)
    cells = cells.assign(hours=cells["hours"].mask(cells["hours"] > limit, limit))
    groups = cells.groupby(CELL_KEYS, sort=True)
    pooled = groups[SUM_COLUMNS].sum().join(groups.agg(provider=("provider", "last"), hours=("hours", "max"),
                                                       start=("start", "min"), end=("end", "max")))
    quantiles = [_latency_quantiles(blobs) for _, blobs in groups["latency_sketch"]]
    pooled = pooled.reset_index().assign(**{f"latency_p{q}_ms": [x[i] for x in quantiles]
                                            for i, q in enumerate((50, 95, 99))})
    for col in ("requests", "production_requests", "errors", "timeouts", "scored"):
        pooled[col] = pooled[col].astype(int)
    sample = _pooled_sample(pool, policy, decided)
    hours = float(pooled["hours"].max())
    return PooledEvidence(pooled, sample, hours * pool.threshold, hours, pool.partitions, pool.reused,
                          int(pooled["requests"].sum()), drift, pool.seconds, **report)


def _latency_quantiles(blobs: pd.Series) -> tuple[float, float, float]:
    sketch = merge_sketches(blobs)
    if sketch.is_empty():
        return (float("nan"),) * 3
    return tuple(float(sketch.get_quantile(q)) for q in (0.5, 0.95, 0.99))


def _lookback_hours(services: pd.Series, policy: Policy) -> pd.Series:
    """Per row, its service's lookback (each distinct service's policy built once, not once per row)."""
    return services.map({s: policy.for_service(s).lookback_hours for s in services.unique()})


def _decided_hours(frame: pd.DataFrame, decided: dict[tuple[str, str], int]) -> pd.Series:
    """Per row, the hours its task decides on after a drift finding (NaN where none was found)."""
    if not decided:
        return pd.Series(float("nan"), index=frame.index)
    keys = pd.MultiIndex.from_tuples(list(decided), names=["service", "task_type"])
    hours = pd.Series(list(decided.values()), index=keys, dtype=float)
    at = pd.MultiIndex.from_arrays([frame["service"], frame["task_type"]])
    return pd.Series(hours.reindex(at).to_numpy(), index=frame.index)


def _after_drift(frame: pd.DataFrame, at: pd.Series, decided: dict[tuple[str, str], int], end) -> pd.Series:
    """Rows of undrifted tasks, and rows of drifted ones at or after the start of the hours they decide on."""
    limit = _decided_hours(frame, decided)
    return limit.isna() | (at >= end - pd.to_timedelta(limit, unit="h"))


def _pooled_sample(pool: EvidencePool, policy: Policy, decided: dict[tuple[str, str], int]) -> pd.DataFrame:
    # in time order, each partition's rows in the order the source returned them: the same on every runner
    samples = [s for _, s in sorted(pool.samples, key=lambda item: item[0]) if not s.empty]
    if not samples:
        return pd.DataFrame()
    sample = pd.concat(samples, ignore_index=True)
    sample = sample[sample[SAMPLE_KEY] < pool.threshold]
    ts = pd.to_datetime(sample["ts"], utc=True)
    lookback = _lookback_hours(sample["service"], policy)
    keep = ts >= pool.window.end - pd.to_timedelta(lookback, unit="h")
    keep &= _after_drift(sample, ts, decided, pool.window.end)
    return sample.loc[keep].drop(columns=[SAMPLE_KEY]).reset_index(drop=True)
