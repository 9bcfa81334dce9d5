"""Benchmark: one hour of N requests (default 1,000,000) through the real `hourly-optimization` flow.

Runs exactly what `llmopt run` runs (the flow, with every strategy the settings enable), then reads the
flow run's task runs back from Prefect to print seconds per stage, rows/s and peak memory (max RSS).
Target on a 2-core machine: whole run ≤ 30 s after imports, peak memory ≤ 2 GB.

    .venv/bin/python bench/bench_flow.py --rows 1000000 [--strategies routing,reliability,max_tokens]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import subprocess
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

for key, value in {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "true",
                   "MLFLOW_DISABLE_TELEMETRY": "true", "GX_ANALYTICS_ENABLED": "false",
                   "PREFECT_LOGGING_LEVEL": "WARNING", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
                   "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120"}.items():
    os.environ.setdefault(key, value)

T0 = time.perf_counter()
import great_expectations  # noqa: E402,F401
import mlflow  # noqa: E402,F401
import prefect  # noqa: E402,F401
import yaml  # noqa: E402

from llmopt.cli.runs import flow  # noqa: E402
from llmopt.domain import Window  # noqa: E402
from llmopt.resources import open_resources  # noqa: E402
from llmopt.settings import Settings  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - T0
WINDOW_END = datetime(2026, 11, 20, 11, tzinfo=timezone.utc)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def task_seconds(flow_run_id: str) -> list[tuple[str, float]]:
    """(task run name, seconds) of every task run of the flow run, in start order."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async with get_client() as client:
        runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    runs = sorted((r for r in runs if r.start_time), key=lambda r: r.start_time)
    # default task run names end in a random 3-hex suffix ("decide-changes-99b")
    return [(re.sub(r"-[0-9a-f]{3}$", "", r.name), r.total_run_time.total_seconds()) for r in runs]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--strategies", default="routing", help="comma-separated, as in `strategies:`")
    parser.add_argument("--keep", help="keep the stores in this folder instead of a temporary one")
    args = parser.parse_args()
    root = Path(args.keep or tempfile.mkdtemp(prefix="llmopt-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    values = {"database_url": f"sqlite:///{root}/requests.db", "config_store_uri": f"file://{root}/configs",
              "mlflow_tracking_uri": f"sqlite:///{root}/mlflow.db", "mlflow_artifact_location": str(root / "mlart"),
              "mlflow_experiment": "bench", "strategies": args.strategies.split(",")}
    config_file = root / "llmopt.yaml"
    config_file.write_text(yaml.safe_dump(values))
    settings = Settings.load(config_file)
    window = Window.resolve(end=WINDOW_END)

    t = time.perf_counter()
    log = open_resources(settings).request_log
    if log.present_columns() and log.count_window(window.start, window.end):
        print(f"reusing the rows in {root}")
    else:   # in a child process, so this process's peak memory is the flow's alone
        subprocess.run([sys.executable, "-m", "llmopt", "generate", "--rows", str(args.rows), "--seed", "1",
                        "--end", WINDOW_END.isoformat(), "--config", str(config_file)], check=True)
        print(f"setup (not timed): generated and wrote {args.rows:,} rows in {time.perf_counter() - t:.1f} s")
    setup_rss = peak_rss_mb()

    t = time.perf_counter()
    summary = flow("hourly-optimization")(start=window.start, end=window.end, config_file=str(config_file))
    flow_secs = time.perf_counter() - t
    n = summary["rows_read"]
    stages = asyncio.run(task_seconds(summary["prefect_flow_run_id"]))
    print(f"\nimports (prefect + mlflow + great_expectations + llmopt): {IMPORT_SECONDS:.1f} s")
    print(f"{'stage (task run)':<28}{'seconds':>9}{'rows/s':>14}")
    for name, secs in stages:
        rate = f"{n / secs:>14,.0f}" if secs >= 0.05 else f"{'-':>14}"   # a per-row rate means nothing here
        print(f"{name:<28}{secs:>9.2f}{rate}")
    in_tasks = sum(s for _, s in stages)
    print(f"{'all task runs':<28}{in_tasks:>9.2f}{n / in_tasks:>14,.0f}")
    print(f"\nwhole flow via Prefect (incl. ephemeral server start and orchestration): {flow_secs:.1f} s, "
          f"{n / flow_secs:,.0f} rows/s; status {summary['status']}, strategies {args.strategies}")
    print(f"rows read {n:,}, quarantined {summary['rows_quarantined']:,}, "
          f"published {[p['service'] + ' v' + str(p['version']) for p in summary['published']]}")
    print(f"peak memory (max RSS) of this process: {peak_rss_mb():,.0f} MB (before the flow: {setup_rss:,.0f} MB)")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
