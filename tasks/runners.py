"""The task runner the hourly flow's partition tasks run on: threads here, or a Dask cluster."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from prefect.task_runners import ThreadPoolTaskRunner

from llmopt.settings import Settings


def task_runner(settings: Settings, at_once: int = 1):
    """A DaskTaskRunner when `dask_scheduler_address` or `dask_workers` is set, else a thread pool.

    `dask_scheduler_address` connects to a running cluster (its workers need llmopt installed and must reach
    the request source, the rollups store and the database); `dask_workers: N` starts a local cluster of N
    worker processes for the run. Threads: `at_once` of them.
    """
    if settings.dask_scheduler_address or settings.dask_workers:
        from prefect_dask import DaskTaskRunner

        if settings.dask_scheduler_address:
            return DaskTaskRunner(address=settings.dask_scheduler_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": settings.dask_workers, "threads_per_worker": 1,
                                              "processes": True, "dashboard_address": None})
    return ThreadPoolTaskRunner(max_workers=at_once)


@contextmanager
def partition_runner(settings: Settings, at_once: int = 1) -> Iterator:
    """The runner of the run's own settings, started for the body: `runner.submit(task, parameters)`.

    Chosen when the run has loaded its settings — not when the flow module is imported — so a Dask cluster named
    only in the `config_file` of `llmopt run`, `llmopt serve` or a deployment's parameters is the one used.
    """
    with task_runner(settings, at_once) as runner:
        yield runner
