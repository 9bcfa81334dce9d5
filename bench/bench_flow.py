"""Benchmark: one hour of N requests (default 1,000,000) through every stage, then the whole flow.

Prints seconds per stage, rows/s and peak memory (max RSS). Target on a 2-core machine:
whole run ≤ 30 s after imports, peak memory ≤ 2 GB.

    .venv/bin/python bench/bench_flow.py --rows 1000000
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

for key, value in {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "true",
                   "MLFLOW_DISABLE_TELEMETRY": "true", "GX_ANALYTICS_ENABLED": "false",
                   "PREFECT_LOGGING_LEVEL": "WARNING", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}.items():
    os.environ.setdefault(key, value)

T0 = time.perf_counter()
import great_expectations  # noqa: E402,F401
import mlflow  # noqa: E402,F401
import prefect  # noqa: E402,F401

from llmopt import optimizer  # noqa: E402
from llmopt.decisions import decide  # noqa: E402
from llmopt.run_record import record_run, run_params, tracker_for  # noqa: E402
from llmopt.settings import Settings  # noqa: E402
from llmopt.summary import build_summary  # noqa: E402
from llmopt.workload import generate_requests  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - T0
WINDOW_END = datetime(2026, 11, 20, 11, tzinfo=timezone.utc)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def settings_in(root: Path, tag: str) -> Settings:
    return Settings(database_url=f"sqlite:///{root}/requests.db", config_store_uri=f"file://{root}/configs-{tag}",
                    mlflow_tracking_uri=f"sqlite:///{root}/mlflow.db",
                    mlflow_artifact_location=str(root / "mlartifacts"), mlflow_experiment=f"bench-{tag}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", help="keep the stores in this folder instead of a temporary one")
    args = parser.parse_args()
    root = Path(args.keep or tempfile.mkdtemp(prefix="llmopt-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    settings = settings_in(root, "stages")
    window = optimizer.Window.resolve(end=WINDOW_END)

    t = time.perf_counter()
    log = optimizer.request_log(settings)
    if log.count_window(window.start, window.end) if log.present_columns() else 0:
        print(f"reusing {args.rows:,} rows in {root}")
    else:
        frame = generate_requests(args.rows, hours=1, seed=1, end=WINDOW_END, prices=optimizer.prices(settings))
        log.append(frame, chunk_rows=100_000)
        del frame
        print(f"setup (not timed): generated and wrote {args.rows:,} rows in {time.perf_counter() - t:.1f} s")

    stages: list[tuple[str, float]] = []

    def stage(name, fn, *a):
        start = time.perf_counter()
        out = fn(*a)
        stages.append((name, time.perf_counter() - start))
        return out

    frame = stage("extract", optimizer.extract, settings, window)
    validation = stage("validate", optimizer.validate, settings, window, frame)
    models = stage("fit", optimizer.fit, settings, validation.valid)
    services = sorted(models.cells["service"].unique())
    latest = stage("read configs", optimizer.latest_configs, settings, services)
    evaluations = stage("evaluate", optimizer.evaluate, settings, window, validation.valid, models, latest)
    changes = stage("decide", decide, evaluations, settings.policy, datetime.now(timezone.utc))
    tracker = tracker_for(settings)
    run_id = stage("mlflow start", tracker.start_run, "bench", run_params(settings, window, False), {})
    ids = {"prefect_flow_run_id": None, "mlflow_run_id": run_id}
    outcome = stage("publish", optimizer.publish_changes, settings, window, evaluations, changes, models, latest, ids)
    summary = build_summary(window, validation, models, evaluations, changes, outcome, ids, False)
    stage("mlflow record", record_run, tracker, run_id, summary, validation, models, evaluations, outcome)
    tracker.end_run(run_id, True)

    total = sum(s for _, s in stages)
    n = validation.rows_read
    print(f"\nimports (prefect + mlflow + great_expectations + llmopt): {IMPORT_SECONDS:.1f} s")
    print(f"{'stage':<15}{'seconds':>9}{'rows/s':>14}")
    for name, secs in stages:
        rate = f"{n / secs:>14,.0f}" if secs >= 0.05 else f"{'-':>14}"   # per-row rate means nothing here
        print(f"{name:<15}{secs:>9.2f}{rate}")
    print(f"{'all stages':<15}{total:>9.2f}{n / total:>14,.0f}")
    print(f"rows read {n:,}, quarantined {validation.rows_quarantined:,}, "
          f"published {[f'{p.service} v{p.version}' for p in outcome.published]}")
    print(f"peak memory (max RSS) after stages: {peak_rss_mb():,.0f} MB")

    # The same work as one Prefect flow run (ephemeral API server, task runs, artifacts).
    from flows.hourly_optimization import hourly_optimization
    import yaml

    flow_settings = root / "flow.yaml"
    flow_settings.write_text(yaml.safe_dump(settings_in(root, "flow").model_dump(mode="json", exclude={"policy"})))
    t = time.perf_counter()
    result = hourly_optimization(start=window.start, end=window.end, config_file=str(flow_settings))
    flow_secs = time.perf_counter() - t
    print(f"\nwhole flow via Prefect (incl. ephemeral server start): {flow_secs:.1f} s, status {result['status']}, "
          f"{n / flow_secs:,.0f} rows/s")
    print(f"peak memory (max RSS) overall: {peak_rss_mb():,.0f} MB")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
