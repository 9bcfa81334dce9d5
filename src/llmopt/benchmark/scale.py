"""`llmopt bench scale`: a request lake of N rows over H hours through the real `llmopt run`, cold and warm.

Cold: the first run over the lookback (no rollups: every partition is read, validated and reduced).
Warm: the next hour's run (the earlier hours' rollups are reused; one new hour is read).
The MLflow store and experiment are created before either run (untimed, reported), as a deployment finds them.
Each run is a separate `llmopt run` process against a running Prefect server (as in production, where a
deployment's runs do not start a server): wall seconds, peak RSS of that process (VmHWM), seconds per task
run (read back from Prefect), rows/s, and the ratio to a plain GROUP BY of the same rows (DuckDB on the
Parquet files; the database's own GROUP BY for `--format sqlite` and `--format postgres`, whose server is
`--set database_url=postgresql+psycopg://…`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import yaml

from llmopt.extract.synthetic import generate_requests
from llmopt.prices import PriceMap

END = datetime(2026, 11, 20, 0, tzinfo=timezone.utc)
BASE_HOURS = 4          # distinct generated hours, cycled (with fresh ids and shifted times) to make the lake


def write_lake(root: Path, fmt: str, rows: int, hours: int, prices: PriceMap, settings_values: dict) -> None:
    """`hours` + 1 hours ending at END + 1 h (the warm run's new hour last), rows/hours each."""
    per_hour = rows // hours
    bases = [generate_requests(per_hour, hours=1, seed=s, end=END, prices=prices) for s in range(BASE_HOURS)]
    engine = None
    if fmt in ("sqlite", "postgres"):
        from sqlalchemy import text

        from llmopt.extract.sql_source import SqlRequestLog

        engine = SqlRequestLog(settings_values["database_url"], "llm_requests", "llm_requests_quarantine")
        with engine.engine.begin() as conn:          # a bench starts from an empty table
            conn.execute(text("DROP TABLE IF EXISTS llm_requests"))
    if per_hour == 0:                   # an hour with no traffic: the tables (or lake folder), empty
        engine.ensure_tables() if engine is not None else (root / "lake").mkdir(parents=True, exist_ok=True)
        return
    for h in range(hours + 1):
        shift = timedelta(hours=h - hours + 1)
        hour = bases[h % BASE_HOURS].assign(ts=lambda f: f["ts"] + shift,
                                            request_id=lambda f: f"h{h}-" + f["request_id"])
        start = END - timedelta(hours=1) + shift
        if fmt == "parquet":
            folder = root / "lake" / f"date={start:%Y-%m-%d}" / f"hour={start:%H}"
            folder.mkdir(parents=True, exist_ok=True)
            hour.to_parquet(folder / "part-0.parquet", index=False)
        else:
            engine.append(hour, chunk_rows=100_000)
        print(f"\r  wrote hour {h + 1}/{hours + 1} ({per_hour:,} rows)", end="", flush=True)
    print()


def baseline_seconds(root: Path, fmt: str, settings_values: dict, start: datetime, end: datetime,
                     repeats: int = 3) -> float:
    """A plain GROUP BY (service, task_type, model) of the cold run's rows: counts and sums; the best of
    `repeats` runs (one run swung 0.72–0.93 s on the 10M-row day, and so did the ratio)."""
    aggregates = ("count(*), sum(latency_ms), sum(quality_score), sum(quality_score * quality_score), "
                  "sum(prompt_tokens), sum(completion_tokens)")
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        if fmt == "parquet":
            import duckdb

            duckdb.sql(f"select service, task_type, model, {aggregates} from read_parquet('{root}/lake/**/*.parquet', "
                       f"hive_partitioning = true) where ts >= '{start.isoformat()}' and ts < '{end.isoformat()}' "
                       "group by all").fetchall()
        else:
            from sqlalchemy import create_engine, text

            with create_engine(settings_values["database_url"]).connect() as conn:
                conn.execute(text(f"select service, task_type, model, {aggregates} from llm_requests "
                                  "where ts >= :s and ts < :e group by 1, 2, 3"),
                             {"s": start.strftime("%Y-%m-%d %H:%M:%S"),
                              "e": end.strftime("%Y-%m-%d %H:%M:%S")}).all()
        best = min(best, time.perf_counter() - t)
    return best


def timed_run(config: Path, start: datetime, env: dict) -> tuple[dict, float, float]:
    """One `llmopt run` process: its summary, wall seconds and peak RSS (MB)."""
    t = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen([sys.executable, "-m", "llmopt", "run", "--config", str(config), "--json",
                                 "--dry-run", "--start", start.isoformat()], stdout=out, env=env)
        peak_kb = 0
        while proc.poll() is None:      # VmHWM: the kernel's peak RSS of this process alone (not its children)
            peak_kb = max(peak_kb, _high_water_kb(proc.pid))
            time.sleep(0.1)
        seconds = time.perf_counter() - t
        if proc.returncode != 0:
            raise RuntimeError(f"llmopt run failed (exit {proc.returncode})")
        out.seek(0)
        return json.loads(out.read()), seconds, peak_kb / 1024


def _high_water_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            return next((int(line.split()[1]) for line in status if line.startswith("VmHWM:")), 0)
    except OSError:
        return 0


def run_scale(root: Path, fmt: str, rows: int, hours: int, prices: PriceMap, task_seconds, env: dict,
              extra_settings: dict | None = None) -> str:
    """Generate the lake (unless `root` holds it already), run cold and warm, and return the printed report."""
    values = {"database_url": f"sqlite:///{root}/requests.db", "config_store_uri": f"file://{root}/configs",
              "mlflow_tracking_uri": f"sqlite:///{root}/mlflow.db", "mlflow_artifact_location": str(root / "mlart"),
              "mlflow_experiment": "bench-scale", "rollups_dir": str(root / "rollups"),
              "policy": {"lookback_hours": hours}}
    if fmt == "parquet":
        values["requests_path"] = str(root / "lake")
    if fmt == "postgres":
        if not (extra_settings or {}).get("database_url", "").startswith("postgresql"):
            raise ValueError("--format postgres needs --set database_url=postgresql+psycopg://… (a server to fill)")
        values["database_url"] = extra_settings["database_url"]
    config = root / "llmopt.yaml"
    config.write_text(yaml.safe_dump({**values, **(extra_settings or {})}))
    t = time.perf_counter()
    made = root / f".lake-{fmt}-{rows}-{hours}"
    if fmt == "postgres":
        made.unlink(missing_ok=True)                 # the server's table may have changed since
    if not made.exists():
        write_lake(root, fmt, rows, hours, prices, values)
        made.touch()
    lake_seconds = time.perf_counter() - t
    store_line = create_tracking_store({**values, **(extra_settings or {})})
    os.sync()       # the lake's and the store's writes reach the disk now, not during the timed runs
    lines = [f"setup (not timed): {rows:,} rows over {hours} h (+1 h for the warm run) as {fmt} in "
             f"{lake_seconds:.0f} s; settings {extra_settings or 'default'}"]
    lines.append(store_line)
    shutil.rmtree(root / "rollups", ignore_errors=True)         # cold means cold
    cold_start = END - timedelta(hours=1)
    base = baseline_seconds(root, fmt, values, END - timedelta(hours=hours), END)
    for label, start in (("cold", cold_start), ("warm", cold_start + timedelta(hours=1))):
        summary, seconds, rss = timed_run(config, start, env)
        lb = {"partitions": 0, "rollups_reused": 0, "rows_pooled": 0, **(summary.get("lookback") or {})}
        read_rows = lb["rows_pooled"] if label == "cold" else summary.get("rows_read", 0)
        lines.append(f"\n{label}: {lb['partitions']} partitions ({lb['rollups_reused']} reused), "
                     f"{lb['rows_pooled']:,} rows pooled; status {summary['status']}")
        stages = pd.DataFrame(task_seconds(summary["prefect_flow_run_id"]), columns=["task", "seconds", "start", "end"])
        stages["task"] = stages["task"].str.replace(r"rollup-\d.*", "rollup-partition (all)", regex=True)
        lines.append(stages.groupby("task", sort=False)["seconds"].agg(["count", "sum"]).round(2).to_string())
        partitions = stages[stages["task"] == "rollup-partition (all)"]
        span = partitions["end"].max() - partitions["start"].min() if len(partitions) else 0.0
        split = ", ".join(f"{k} {v:.1f} s" for k, v in lb.get("seconds", {}).items())
        lines.append(f"inside the partition tasks (summed): {split}")
        lines.append(f"whole `llmopt run` process: {seconds:.1f} s, {read_rows / seconds:,.0f} rows read/s, "
                     f"peak RSS {rss:,.0f} MB")
        if label == "cold" and lb["rows_pooled"]:
            lines.append(f"plain GROUP BY of the same {lb['rows_pooled']:,} rows: {base:.2f} s; data-proportional "
                         f"time (first partition start → last partition end) {span:.1f} s = {span / base:.1f}× "
                         f"the GROUP BY; whole process {seconds / base:.1f}×")
    return "\n".join(lines)


def create_tracking_store(values: dict) -> str:
    """Create (and migrate) the MLflow store and experiment before the timed runs: a deployment's hourly runs
    find them in place, so cold means cold rollups; a first-ever run pays this once, and the line says how much."""
    from llmopt.track.tracker import MlflowTracker

    t = time.perf_counter()
    MlflowTracker(values["mlflow_tracking_uri"], values["mlflow_experiment"], values["mlflow_artifact_location"])
    return f"MLflow store and experiment in place (not timed; a first-ever run pays this once): " \
           f"{time.perf_counter() - t:.1f} s"


def start_prefect_server(home: Path, env: dict) -> tuple[subprocess.Popen, str]:
    """A `prefect server` on a free localhost port, for the measured runs to report to."""
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = open(home / "prefect-server.log", "w")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1",
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/api"
    for _ in range(240):
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            return proc, url
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"prefect server did not start; see {home / 'prefect-server.log'}")
