"""Seconds per task run of a finished flow run, read back from the Prefect API (for the benchmarks)."""

from __future__ import annotations

import asyncio
import re


def task_seconds(flow_run_id: str, api_url: str | None = None) -> list[tuple[str, float, float, float]]:
    """(task run name, seconds, start, end as epoch seconds) of every task run of `flow_run_id`, in start order.

    `api_url`: the Prefect API that ran it (default: this process's PREFECT_API_URL).
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def read():
        found, page = [], 200                  # the API returns at most 200 task runs per call
        async with get_client() as client:
            while True:
                batch = await client.read_task_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])), limit=page,
                    offset=len(found))
                found += batch
                if len(batch) < page:
                    return found

    with temporary_settings({PREFECT_API_URL: api_url} if api_url else {}):
        found = asyncio.run(read())
    runs = sorted((r for r in found if r.start_time), key=lambda r: r.start_time)
    # default task run names end in a random 3-hex suffix ("decide-changes-99b")
    return [(re.sub(r"-[0-9a-f]{3}$", "", r.name), r.total_run_time.total_seconds(), r.start_time.timestamp(),
             (r.end_time or r.start_time).timestamp()) for r in runs]
