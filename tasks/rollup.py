"""The engine's tasks: plan the lookback, roll up each partition (the unit a Dask cluster runs), pool."""

import logging

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from llmopt.domain import Window
from llmopt.resources import open_resources
from llmopt.rollup import lookback
from llmopt.rollup.partition import Partition, PartitionRollup
from llmopt.rollup.pool import EvidencePool, PooledEvidence
from llmopt.rollup.progress import LookbackProgress
from llmopt.settings import Settings
from llmopt.tasks.retries import retry_if_transient



@task(name="plan-lookback", retries=2,
      retry_condition_fn=retry_if_transient, retry_delay_seconds=[10, 60], timeout_seconds=600, cache_policy=NO_CACHE)
def plan_lookback(settings: Settings, window: Window) -> EvidencePool:
    """Fingerprint every partition of the lookback, load the stored rollups, list the partitions to read."""
    res = open_resources(settings)
    plan = lookback.plan_lookback(res, window)
    pool = lookback.read_rollups(res, plan)
    get_run_logger().info("lookback %d h: %d partitions, %d rollups reused, %d empty, %d to read (incl. the window)",
                          lookback.lookback_hours(res), len(plan.partitions), pool.reused, pool.skipped_empty,
                          len(pool.pending))
    return pool


class _QuietThreadTimeout(logging.Filter):
    """Prefect warns on every submitted run that a worker thread's timeout applies between blocking calls only."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "running in a worker thread" not in record.getMessage()


logging.getLogger("prefect.task_runs").addFilter(_QuietThreadTimeout())


@task(name="rollup-partition", retries=2,
      retry_condition_fn=retry_if_transient, retry_delay_seconds=[10, 60], timeout_seconds=1800, cache_policy=NO_CACHE,
      task_run_name="rollup-{partition.key}")
def rollup_partition(settings: Settings, partition: Partition, fingerprint: str,
                     window: Window | None = None, sharing: int = 1) -> PartitionRollup:
    """Read, validate (quarantining bad rows) and reduce one partition; a batch-level breach in the window stops
    the run, one in an earlier hour leaves that hour out of the evidence."""
    rollup = lookback.rollup_partition(open_resources(settings), partition, fingerprint, window, sharing)
    logger = get_run_logger()
    if rollup.excluded:
        logger.warning("%s left out of the evidence: %s", partition.key, rollup.excluded)
    elif rollup.rows_read == 0:
        logger.info("%s: empty (no rows in %s)", partition.key, partition.label.removeprefix("window "))
    else:
        logger.info("%s: %d rows read, %d quarantined %s", partition.key, rollup.rows_read, rollup.rows_quarantined,
                    rollup.reasons or "")
    return rollup


@task(name="keep-rollups", retries=2,
      retry_condition_fn=retry_if_transient, retry_delay_seconds=[5, 30], timeout_seconds=600, cache_policy=NO_CACHE)
def keep_rollups(settings: Settings, pool: EvidencePool, rollups: list[PartitionRollup]) -> None:
    """Store the new rollups for the next runs and fold them into the pool; log progress."""
    lookback.keep_rollups(open_resources(settings), pool, rollups)
    progress = LookbackProgress.of(pool)
    # the CLI's console draws records carrying `llmopt_progress` as a bar in place on a terminal
    get_run_logger().info(progress.line(), extra={"llmopt_progress": progress})


@task(name="pool-evidence", retries=0, timeout_seconds=900, cache_policy=NO_CACHE)
def pool_evidence(settings: Settings, pool: EvidencePool) -> PooledEvidence:
    """Merge the lookback's rollups per cell, apply the drift guard, bound the pooled sample."""
    evidence = lookback.pool(open_resources(settings), pool)
    logger = get_run_logger()
    logger.info("pooled %d partitions (%d reused): %d requests over %.0f h, sample %d rows",
                evidence.partitions, evidence.reused, evidence.rows_pooled, evidence.lookback_hours,
                len(evidence.sample))
    for finding in evidence.drift:
        logger.warning("%s / %s: %s", finding.service, finding.task_type, finding)
    for key, why in evidence.excluded:
        logger.warning("partition %s excluded from the evidence (contract breach): %s", key, why)
    return evidence


def partitions_in_flight(settings: Settings, pool: EvidencePool) -> tuple[int, int]:
    """(partitions run at once, partitions sharing a machine's DuckDB) for the pending ones (a plain call)."""
    return lookback.partitions_in_flight(settings, len(pool.pending))


def partition_waves(pool: EvidencePool, size: int) -> list[list[tuple[Partition, str]]]:
    """The partitions still to read, `size` at a time (a plain call: no I/O)."""
    return pool.waves(size)
