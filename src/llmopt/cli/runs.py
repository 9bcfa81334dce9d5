"""`llmopt demo | run | generate | ingest | bench | serve`: the commands that make or read traffic and run flows."""

from __future__ import annotations

import argparse
import gc
import json
from datetime import timedelta
from importlib.metadata import entry_points
from pathlib import Path

from llmopt.domain import Window, last_complete_hour, redact_url
from llmopt.settings import Settings


def flow(name: str):
    """The Prefect flow registered under `name` in the `llmopt.flows` entry-point group.

    The library knows its flows by name only, so it never imports the orchestration layer.

    Raises:
        LookupError: no installed package registers that flow.
    """
    found = {ep.name: ep for ep in entry_points(group="llmopt.flows")}
    if name not in found:
        raise LookupError(f"flow {name!r} is not installed (entry points llmopt.flows: {sorted(found) or 'none'}); "
                          "reinstall llmopt")
    return found[name].load()


def _run_flow(args: argparse.Namespace) -> dict:
    from llmopt.cli.console import quiet_expected_failures, show_progress

    hourly = flow("hourly-optimization")
    if args.as_command:
        # Prefect, pandas, SQLAlchemy and the flow's modules (~190k objects) out of the collector's view: each full
        # collection of the run (8-9, most while MLflow and scikit-learn import) walked them again, ~0.4 of its
        # ~1.1 s. Only in the command, whose process ends with the run (`run_command`): objects in a cycle made
        # before this point are never collected
        gc.freeze()
    quiet_expected_failures()
    show_progress()
    return hourly(start=args.start, end=args.end, dry_run=args.dry_run, approval=args.approval,
                  config_file=args.config)


def cmd_run(args: argparse.Namespace) -> int:
    from llmopt.track.summary import RunSummary, format_summary

    summary = _run_flow(args)
    print(json.dumps(summary, indent=2) if args.json else format_summary(RunSummary.model_validate(summary)))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from llmopt.extract.synthetic import generate_requests
    from llmopt.resources import open_resources
    from llmopt.track.summary import RunSummary, format_summary

    settings = Settings.load(args.config)
    res = open_resources(settings)
    window = Window.resolve()
    log = res.request_log
    log.ensure_tables()
    if log.count_window(window.start, window.end) == 0:
        print(f"generating {args.rows:,} synthetic requests for {window.label} into {redact_url(settings.database_url)} …")
        log.append(generate_requests(args.rows, hours=1, seed=args.seed, end=window.end,
                                     prices=res.prices))
    print("running the hourly-optimization flow on embedded defaults (first start of Prefect takes ~10 s) …")
    args.start, args.end, args.dry_run, args.approval = window.start, window.end, False, None
    summary = _run_flow(args)
    print("\n" + format_summary(RunSummary.model_validate(summary)))
    print(f"""
next steps
  MLflow UI     make mlflow-ui    (mlflow ui --backend-store-uri {redact_url(settings.mlflow_tracking_uri)}; http://127.0.0.1:5000)
  Prefect UI    make prefect-ui   (prefect server on the demo's PREFECT_HOME, .llmopt/prefect; http://127.0.0.1:4200)
  configs       .venv/bin/llmopt configs list   |   .venv/bin/llmopt configs show SERVICE
  decisions     .venv/bin/llmopt decisions list   (audit trail: decisions show ID; undo: configs rollback SERVICE)
  quarantine    table {settings.quarantine_table} in {redact_url(settings.database_url)}""")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from llmopt.extract.synthetic import generate_requests
    from llmopt.resources import open_resources

    settings = Settings.load(args.config)
    res = open_resources(settings)
    end = args.end or last_complete_hour() + timedelta(hours=1)
    frame = generate_requests(args.rows, hours=args.hours, seed=args.seed, end=end,
                              exploration_share=args.exploration_share, prices=res.prices)
    written = res.request_log.append(frame)
    print(f"wrote {written:,} requests from {frame['ts'].min()} to {frame['ts'].max()} "
          f"into {settings.requests_table} at {redact_url(settings.database_url)}")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from llmopt.extract.ingest import ingest_file
    from llmopt.resources import open_resources

    result = ingest_file(open_resources(Settings.load(args.config)), Path(args.file), args.format, args.end)
    print(json.dumps(result, indent=2) if args.json else
          f"{result['rows_read']} rows read: {result['rows_written']} written, "
          f"{result['rows_already_present']} already present, {result['rows_quarantined']} quarantined "
          f"{result['quarantine_reasons'] or ''}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    if args.action == "scale":
        return _bench_scale(args)
    if args.action == "loop":
        return _bench_loop(args)
    if args.action == "sources":
        from importlib import import_module

        module = {"litellm": "litellm_source", "langfuse": "langfuse_source", "otel": "otel_spans"}[args.format]
        print(json.dumps(import_module(f"llmopt.benchmark.{module}").bench(args.rows)))
        return 0
    from llmopt.benchmark.runner import record_benchmark, run_benchmark

    base = Settings.load(args.config)
    table, totals, scores = run_benchmark(base, flow("hourly-optimization"), args.seeds,
                                          args.worlds.split(",") if args.worlds else None,
                                          history_hours=args.history_hours)
    print(table.round(3).to_string(index=False))
    print(json.dumps(totals, indent=2))
    print(f"mlflow run {record_benchmark(base, table, totals, scores)} (experiment {base.mlflow_experiment}-bench)")
    return 0


def _bench_loop(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    import pandas as pd

    from llmopt.benchmark.closed_loop import loop_summary, loop_totals, plot_shares, run_loop
    from llmopt.benchmark.worlds import worlds

    world = next((w for w in worlds() if w.name == args.world), None)
    if world is None:
        raise SystemExit(f"--world {args.world!r}: expected one of {[w.name for w in worlds()]}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base = Settings.load(args.config)
    hourly = out / f"{world.name}-hours.csv"
    log, truths, settings = run_loop(world, base, flow("hourly-optimization"), args.hours, args.rows_per_task,
                                     args.seed, on_hour=lambda rows: pd.DataFrame([asdict(t) for t in rows])
                                     .to_csv(hourly, index=False))
    summary = loop_summary(world.name, log, truths, settings)
    totals = loop_totals(summary)
    summary.to_csv(out / f"{world.name}-summary.csv", index=False)
    print(summary.round(4).to_string(index=False))
    print(json.dumps(totals, indent=2))
    print(f"shares plot: {plot_shares(log, out / f'{world.name}-shares.png')}")
    return 0


def _bench_scale(args: argparse.Namespace) -> int:
    import os
    import shutil
    import tempfile

    import yaml

    from llmopt.benchmark.scale import run_scale, start_prefect_server
    from llmopt.prices import PriceMap

    root = Path(args.keep or tempfile.mkdtemp(prefix="llmopt-scale-")).absolute()
    root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PREFECT_HOME": str(root / "prefect"), "PREFECT_LOGGING_LEVEL": "WARNING"}
    server, url = start_prefect_server(root, env)
    env["PREFECT_API_URL"] = url
    try:
        extra = {key: yaml.safe_load(value) for key, _, value in (item.partition("=") for item in args.set)}
        print(run_scale(root, args.format, args.rows, args.hours,
                        PriceMap.from_file(Settings.load(args.config).prices_path),
                        lambda run_id: flow("task-seconds")(run_id, url), env, extra))
    finally:
        server.terminate()
        server.wait(timeout=30)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    settings = Settings.load(args.config)
    hourly_optimization = flow("hourly-optimization")
    print(f"serving hourly-optimization on cron {settings.schedule_cron!r} (UTC); Ctrl-C stops. "
          "Scheduling needs a Prefect API (PREFECT_API_URL, e.g. `prefect server start`).")
    hourly_optimization.serve(name="hourly", cron=settings.schedule_cron,
                              parameters={"config_file": args.config} if args.config else {})
    return 0
