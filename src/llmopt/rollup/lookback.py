"""The engine's steps over Resources: plan the lookback, roll up each partition, pool the rollups.

Tasks in `tasks/rollup.py` wrap these one to one; `rollup_partition` is the unit a task runner
(threads, or a Dask cluster) runs in parallel.
"""

from __future__ import annotations

import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pandas as pd
import pyarrow as pa

from llmopt.domain import Window
from llmopt.extract.schema import OPTIONAL_COLUMNS, REQUEST_COLUMNS, ROUTING_COLUMNS
from llmopt.evaluate.registry import strategy
from llmopt.resources import Resources
from llmopt.rollup.partition import SAMPLE_KEY, Partition, PartitionRollup, empty_cells, plan_partitions, reduce_partition
from llmopt.rollup.pool import EvidencePool, PooledEvidence, pool_evidence
from llmopt.rollup.statistics import statistics_of_frame
from llmopt.validate.contract import ContractBreach
from llmopt.engine.partition import CORES, use_threads, validate_and_reduce
from llmopt.extract.frame_types import to_contract_frame
from llmopt.extract.sources import counted_fingerprints


@dataclass(frozen=True)
class LookbackPlan:
    """The partitions of a run's lookback, each with its input's fingerprint and whether its rollup is stored."""

    window: Window
    partitions: list[Partition]
    fingerprints: list[str]
    stored: list[bool]
    counts: list[int | None] | None = None     # rows per partition as the source counted them (None: a slice)



def lookback_hours(res: Resources) -> int:
    """The longest lookback of any service."""
    policy = res.settings.policy
    return max([policy.lookback_hours] + [o.lookback_hours for o in policy.services.values() if o.lookback_hours])


def plan_lookback(res: Resources, window: Window) -> LookbackPlan:
    """Every partition of [window.end − lookback, window.end); the window's own are always recomputed."""
    start = min(window.start, window.end - timedelta(hours=lookback_hours(res)))
    partitions, fingerprints, counts = plan_range(res, start, window.end)
    quarantine_unreachable(res)
    keys = set(res.rollup_store.keys())
    stored = [p.key in keys and p.start < window.start for p in partitions]
    return LookbackPlan(window, partitions, fingerprints, stored, counts)


def plan_range(res: Resources, start: datetime, end: datetime) -> tuple[list[Partition], list[str], list[int | None]]:
    """The partitions of [start, end) (an hour with more than `partition_max_rows` rows in slices), each with
    its input's fingerprint (its late scores' included) and its row count as the source counted it.

    Counts and fingerprints are taken per hour, in one scan where the source can: a slice carries its hour's
    fingerprint, so a late row redoes every slice of its hour (the slices are cut from the hour's count anyway).
    """
    settings, source = res.settings, res.request_source
    hours = plan_partitions(start, end, settings.partition_minutes)
    hour_counts, hour_prints = counted_fingerprints(source, [(p.start, p.end) for p in hours])
    pieces = [(piece, n if piece == p else None, f) for p, n, f in zip(hours, hour_counts, hour_prints)
              for piece in split_partition(p, n, settings.partition_max_rows)]
    partitions, counts, fingerprints = [p for p, _, _ in pieces], [n for _, n, _ in pieces], [f for *_, f in pieces]
    if res.feedback is not None:        # a late score changes its partition's fingerprint: the hour is redone
        fingerprints = [f"{f}+{res.feedback.fingerprint(p.start, p.end)}" for f, p in zip(fingerprints, partitions)]
    return partitions, fingerprints, counts


WORKER = f"{socket.gethostname()}:{os.getpid()}"
ROLLUP_LOADS_AT_ONCE = 4
FUTURE_TOLERANCE = timedelta(hours=1)      # clock skew between the gateways and this job


def quarantine_unreachable(res: Resources) -> int:
    """Quarantine the rows no window will read: ts later than now + 1 h, or (SQLite) not a timestamp at all.

    Kept under one source that each run replaces, so a row leaves the quarantine once its hour comes.
    """
    if res.request_source is not res.request_log:
        return 0
    rows = res.request_log.rows_after(datetime.now(timezone.utc) + FUTURE_TOLERANCE)
    res.request_log.replace_quarantine("ts in the future or not a timestamp",
                                       rows.assign(reason="ts is in the future or not a timestamp"))
    return len(rows)


def split_partition(partition: Partition, rows: int, max_rows: int) -> list[Partition]:
    """`partition` in equal clock-aligned slices of ≥ 5 minutes with about `max_rows` rows each at most."""
    minutes = int((partition.end - partition.start).total_seconds() // 60)
    if rows <= max_rows or minutes <= 5:
        return [partition]
    pieces = -(-rows // max_rows)
    step = next((m for m in (30, 20, 15, 12, 10, 6, 5) if minutes // m >= pieces and minutes % m == 0), 5)
    return plan_partitions(partition.start, partition.end, step)


def columns_to_read(res: Resources) -> list[str]:
    """The routing columns, plus every other contract column the source has: each one's rules are checked
    (a rule on a column never read would pass silently), and the strategies use them."""
    present = set(res.request_source.present_columns())
    wanted = [*REQUEST_COLUMNS, *OPTIONAL_COLUMNS, *(c for name in res.settings.strategies for c in strategy(name).columns)]
    return list(ROUTING_COLUMNS) + [c for c in dict.fromkeys(wanted) if c in present and c not in ROUTING_COLUMNS]


MANY_PARTITIONS = 8         # as `warm_imports.HEAD_START_MIN_PARTITIONS`: enough to outlast a run's fixed costs


def partitions_at_once(setting: int, pending: int, cores: int = CORES) -> int:
    """Partitions to run at once: `setting`, or for 0 (auto) 2 when there are `MANY_PARTITIONS` or more and 2+
    cores, else 1. Two, each on half of DuckDB's threads, overlap one's Python steps (reads, frames, the rollup's
    store) with the other's scan: on 2 cores the 10M-row day's 24 partitions took 8.0-8.2 s against 9.1-10.2 s,
    for ~60 MB more peak memory; a few partitions gain nothing, and their run pays their memory."""
    if setting:
        return setting
    return 2 if pending >= MANY_PARTITIONS and cores >= 2 else 1


def partitions_in_flight(settings, pending: int) -> tuple[int, int]:
    """(partitions run at once, partitions sharing this machine's DuckDB threads): a local Dask cluster's
    workers share its cores; a remote cluster's worker has its own; threads here share the process's DuckDB."""
    at_once = partitions_at_once(settings.partition_concurrency, pending)
    if settings.dask_workers:
        return max(at_once, settings.dask_workers), settings.dask_workers
    return at_once, 1 if settings.dask_scheduler_address else at_once


def rollup_partition(res: Resources, partition: Partition, fingerprint: str,
                     window: Window | None = None, sharing: int = 1) -> PartitionRollup:
    """`read_and_reduce` on DuckDB's share of the cores (`sharing` partitions at once), then the partition's freed
    Arrow buffers go back to the OS: Arrow's allocator (mimalloc) keeps them otherwise (~230 MB after a 417k-row
    partition), and the run's later steps would start above them."""
    use_threads(sharing)
    try:
        return read_and_reduce(res, partition, fingerprint, window)
    finally:
        pa.default_memory_pool().release_unused()


def read_and_reduce(res: Resources, partition: Partition, fingerprint: str,
                    window: Window | None = None) -> PartitionRollup:
    """Read one partition, validate it against the contract (quarantining bad rows), reduce it to a rollup.

    A batch-level breach in an earlier hour of the lookback (before `window.start`) leaves that hour out of the
    evidence: the rollup is `excluded` with the breach as its reason (stored, so every later run names it again
    until the rows are mended, which changes the fingerprint). A breach in the run's own window stops the run.

    Raises:
        ContractBreach: a batch-level breach in the window (the quarantine is written first, so the reasons can
            be read); its message names the partition.
    """
    settings, policy = res.settings, res.settings.policy
    clock = started = time.perf_counter()
    columns = columns_to_read(res)
    table = read_table(res, partition, columns)
    seconds = {"read": time.perf_counter() - clock}
    if table is not None and table.num_rows:
        clock = time.perf_counter()
        try:
            result = validate_and_reduce(table, res.contract, res.prices, ROUTING_COLUMNS,
                                         (partition.start, partition.end), policy.max_bad_row_share,
                                         policy.bad_row_share_min_rows, settings.rollup_sample_rows)
        except ContractBreach as breach:
            return _breached(res, partition, fingerprint, window, breach, table.num_rows, seconds)
        if result is not None:
            res.request_log.replace_quarantine(partition.label, result.rejected)
            seconds["validate + reduce"] = time.perf_counter() - clock
            return PartitionRollup(partition, fingerprint, result.cells, result.sample, result.sample_threshold,
                                   result.rows_read, result.rows_quarantined, result.reasons,
                                   result.expectation_results, seconds=seconds, worker=WORKER,
                                   statistics=result.statistics)
    frame = to_contract_frame(table) if table is not None else \
        res.request_source.read_partition(partition.start, partition.end, columns)
    joined = None
    if res.feedback is not None:
        frame, joined = res.feedback.join(frame, partition.start, partition.end)
    seconds = {"read": time.perf_counter() - started}
    if frame.empty and window is not None and partition.start < window.start:
        # an earlier hour without rows holds no evidence to judge (a missing column is the window's to report)
        return PartitionRollup(partition, fingerprint, empty_cells(), pd.DataFrame({SAMPLE_KEY: []}), 1.0,
                               seconds=seconds, worker=WORKER)
    clock = time.perf_counter()
    try:
        outcome = res.contract.validate(frame, ROUTING_COLUMNS, res.prices, policy.max_bad_row_share,
                                        (partition.start, partition.end),
                                        policy.bad_row_share_min_rows) if len(frame.columns) else None
    except ContractBreach as breach:
        return _breached(res, partition, fingerprint, window, breach, len(frame), seconds)
    if outcome is None or outcome.rows_read == 0:
        return PartitionRollup(partition, fingerprint, empty_cells(), pd.DataFrame({SAMPLE_KEY: []}), 1.0)
    res.request_log.replace_quarantine(partition.label, outcome.rejected)
    seconds["validate"] = time.perf_counter() - clock
    clock = time.perf_counter()
    cost = res.prices.fill_cost(outcome.valid)          # once, for the cells and the statistics
    cells, sample, threshold = reduce_partition(outcome.valid, res.prices, settings.rollup_sample_rows, cost)
    statistics = statistics_of_frame(outcome.valid, cost)
    seconds["reduce"] = time.perf_counter() - clock
    return PartitionRollup(partition, fingerprint, cells, sample, threshold, outcome.rows_read,
                           outcome.rows_quarantined, outcome.reasons, outcome.expectation_results,
                           seconds=seconds, worker=WORKER, feedback_scores=joined.scores if joined else 0,
                           newest_score=joined.newest.isoformat() if joined and joined.newest else None,
                           statistics=statistics)


def read_table(res: Resources, partition: Partition, columns: list[str]):
    """The partition as Arrow for the engine, or None for the pandas path (`engine: pandas`, late feedback to
    join, or a window the source can read only as pandas)."""
    if res.settings.engine != "duckdb" or res.feedback is not None:
        return None
    return res.request_source.read_table(partition.start, partition.end, columns)


def _breached(res: Resources, partition: Partition, fingerprint: str, window: Window | None,
              breach: ContractBreach, rows: int, seconds: dict) -> PartitionRollup:
    """A batch-level breach: quarantine what is known bad; in the window, stop the run naming the partition;
    in an earlier hour, leave that hour out of the evidence."""
    if breach.rejected is not None:
        res.request_log.replace_quarantine(partition.label, breach.rejected)
    if window is None or partition.start >= window.start:
        raise breach.located(partition.label) from None
    quarantined = 0 if breach.rejected is None else len(breach.rejected)
    return PartitionRollup(partition, fingerprint, empty_cells(), pd.DataFrame({SAMPLE_KEY: []}), 1.0,
                           rows, quarantined, seconds=seconds,
                           excluded=str(breach).removeprefix("data contract breached: "))


def read_rollups(res: Resources, plan: LookbackPlan) -> EvidencePool:
    """A pool holding the plan's stored rollups; the rest (and stored ones whose input changed) are pending.

    Read a few at once (Parquet reads release the GIL; an S3 store's are waits), added in the plan's order."""
    pool = EvidencePool(plan.window, res.settings.pooled_sample_rows, planner=WORKER)
    counts, pending_counts = plan.counts or [None] * len(plan.partitions), []
    store = res.rollup_store
    with ThreadPoolExecutor(ROLLUP_LOADS_AT_ONCE) as loads:
        metas = list(loads.map(lambda part, fingerprint, stored: store.meta(part, fingerprint) if stored else None,
                               plan.partitions, plan.fingerprints, plan.stored))
        # τ only falls as rollups are added: set from the stored ones first, each loaded sample is cut to about
        # its final size as it is read, not thinned again with all the others as τ falls (4 of a warm week's 18 s)
        pool.lower_threshold([m["sample_threshold"] for m in metas if m],
                             sum(m["rows_read"] - m["rows_quarantined"] for m in metas if m))
        below = pool.threshold
        rollups = loads.map(lambda part, fingerprint, meta: None if meta is None else
                            store.load(part, fingerprint, statistics=False, sample_below=below, meta=meta),
                            plan.partitions, plan.fingerprints, metas)
        for part, fingerprint, rollup, count in zip(plan.partitions, plan.fingerprints, rollups, counts):
            _add_loaded(pool, plan, part, fingerprint, rollup, count, pending_counts)
    pool.pending_rows = None if None in pending_counts else sum(pending_counts)
    return pool


def _add_loaded(pool: EvidencePool, plan: LookbackPlan, part: Partition, fingerprint: str,
                rollup: PartitionRollup | None, count: int | None, pending_counts: list) -> None:
    """A stored rollup into the pool; else the partition is pending (or, counted empty before the window, empty)."""
    if rollup is None and count == 0 and part.start < plan.window.start:
        pool.add_empty()        # an earlier hour the source counts no rows in: nothing to read or to judge
    elif rollup is None:
        pool.pending.append((part, fingerprint))
        pending_counts.append(count)
    else:
        pool.add(rollup)


def keep_rollups(res: Resources, pool: EvidencePool, rollups: list[PartitionRollup]) -> None:
    """Store new rollups (so the next run reuses them) and fold them into the pool."""
    for rollup in rollups:
        res.rollup_store.save(rollup)
        pool.add(rollup)


def pool(res: Resources, evidence_pool: EvidencePool) -> PooledEvidence:
    """The pooled evidence of the lookback, with the drift guard applied."""
    return pool_evidence(evidence_pool, res.settings.policy)
