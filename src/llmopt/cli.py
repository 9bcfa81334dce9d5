"""The `llmopt` command line: demo, run, generate, ingest, configs, decisions, serve.

Orchestration lives in `flows/`; commands that run the flow import it lazily, so this package
never imports prefect itself.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from llmopt.settings import Settings

QUIET_ENV = {  # no network here: turn telemetry off before prefect / mlflow / gx are imported
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true", "GX_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",   # keeps `run --json` output pure JSON
}


def _iso(value: str) -> datetime:
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not an ISO timestamp: {value!r}") from err
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts


def _run_flow(args: argparse.Namespace) -> dict:
    from flows.hourly_optimization import hourly_optimization

    return hourly_optimization(start=args.start, end=args.end, dry_run=args.dry_run,
                               approval=args.approval, config_file=args.config)


def cmd_run(args: argparse.Namespace) -> int:
    from llmopt.summary import format_summary

    summary = _run_flow(args)
    print(json.dumps(summary, indent=2, default=str) if args.json else format_summary(summary))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from llmopt import optimizer
    from llmopt.summary import format_summary
    from llmopt.workload import generate_requests

    settings = Settings.load(args.config)
    window = optimizer.Window.resolve()
    log = optimizer.request_log(settings)
    log.ensure_tables()
    if log.count_window(window.start, window.end) == 0:
        print(f"generating {args.rows:,} synthetic requests for {window.label} into {settings.database_url} …")
        log.append(generate_requests(args.rows, hours=1, seed=args.seed, end=window.end,
                                     prices=optimizer.prices(settings)))
    print("running the hourly-optimization flow on embedded defaults (first start of Prefect takes ~10 s) …")
    args.start, args.end, args.dry_run, args.approval = window.start, window.end, False, None
    summary = _run_flow(args)
    print("\n" + format_summary(summary))
    print(f"""
next steps
  MLflow UI     make mlflow-ui    (mlflow ui --backend-store-uri {settings.mlflow_tracking_uri}; http://127.0.0.1:5000)
  Prefect UI    make prefect-ui   (prefect server on the demo's PREFECT_HOME, .llmopt/prefect; http://127.0.0.1:4200)
  configs       .venv/bin/llmopt configs list   |   .venv/bin/llmopt configs show SERVICE
  decisions     .venv/bin/llmopt decisions list   (audit trail: decisions show ID; undo: configs rollback SERVICE)
  quarantine    table {settings.quarantine_table} in {settings.database_url}""")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from llmopt import optimizer
    from llmopt.workload import generate_requests, last_complete_hour

    settings = Settings.load(args.config)
    end = args.end or last_complete_hour() + timedelta(hours=1)
    frame = generate_requests(args.rows, hours=args.hours, seed=args.seed, end=end,
                              exploration_share=args.exploration_share, prices=optimizer.prices(settings))
    written = optimizer.request_log(settings).append(frame)
    print(f"wrote {written:,} requests from {frame['ts'].min()} to {frame['ts'].max()} "
          f"into {settings.requests_table} at {settings.database_url}")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from llmopt.ingest import ingest_file

    result = ingest_file(Settings.load(args.config), Path(args.file), args.format, args.end)
    print(json.dumps(result, indent=2) if args.json else
          f"{result['rows_read']} rows read: {result['rows_written']} written, "
          f"{result['rows_already_present']} already present, {result['rows_quarantined']} quarantined "
          f"{result['quarantine_reasons'] or ''}")
    return 0


def cmd_configs(args: argparse.Namespace) -> int:
    from llmopt.config_commands import diff_configs, list_configs, show_config

    settings = Settings.load(args.config)
    if args.action == "rollback":
        from llmopt.decision_commands import rollback_service

        print(rollback_service(settings, args.service, args.to, args.by, args.reason))
    elif args.action == "export":
        from llmopt.config_commands import export_config

        print(export_config(settings, args.service, args.format, args.version), end="")
    elif args.action == "list":
        print(list_configs(settings))
    elif args.action == "show":
        print(show_config(settings, args.service, args.version))
    else:
        print(diff_configs(settings, args.service, args.from_version, args.to_version))
    return 0


def cmd_decisions(args: argparse.Namespace) -> int:
    from llmopt import decision_commands as dc

    settings = Settings.load(args.config)
    if args.action == "list":
        print(dc.list_decisions(settings, args.state, args.service))
    elif args.action == "show":
        print(dc.show_decision(settings, args.id))
    elif args.action == "approve":
        print(dc.approve_decision(settings, args.id, args.by, args.note))
    else:
        print(dc.reject_decision(settings, args.id, args.by, args.note))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from flows.hourly_optimization import hourly_optimization
    from llmopt.benchmark.runner import record_benchmark, run_benchmark

    base = Settings.load(args.config)
    table, totals, scores = run_benchmark(base, hourly_optimization, args.seeds,
                                          args.worlds.split(",") if args.worlds else None)
    print(table.round(3).to_string(index=False))
    print(json.dumps(totals, indent=2))
    print(f"mlflow run {record_benchmark(base, table, totals, scores)} (experiment {base.mlflow_experiment}-bench)")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from flows.hourly_optimization import hourly_optimization

    settings = Settings.load(args.config)
    print(f"serving hourly-optimization on cron {settings.schedule_cron!r} (UTC); Ctrl-C stops. "
          "Scheduling needs a Prefect API (PREFECT_API_URL, e.g. `prefect server start`).")
    hourly_optimization.serve(name="hourly", cron=settings.schedule_cron,
                              parameters={"config_file": args.config} if args.config else {})
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmopt", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="settings file (default ./llmopt.yaml if present)")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="generate a synthetic hour if needed and run the flow on it")
    demo.add_argument("--rows", type=int, default=120_000)
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(func=cmd_demo)

    run = sub.add_parser("run", help="run the hourly-optimization flow once")
    run.add_argument("--start", type=_iso, help="window start, ISO 8601 (UTC if no offset)")
    run.add_argument("--end", type=_iso, help="window end (exclusive)")
    run.add_argument("--dry-run", action="store_true", help="evaluate and record, publish nothing")
    run.add_argument("--approval", choices=["auto", "manual"], help="override the policy's approval mode")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.set_defaults(func=cmd_run)

    gen = sub.add_parser("generate", help="append a synthetic workload to the request log")
    gen.add_argument("--rows", type=int, required=True)
    gen.add_argument("--hours", type=int, default=1)
    gen.add_argument("--seed", type=int, default=7)
    gen.add_argument("--end", type=_iso, help="end of the last hour (default: end of the last complete hour)")
    gen.add_argument("--exploration-share", type=float, default=0.10)
    gen.set_defaults(func=cmd_generate)

    ing = sub.add_parser("ingest", help="load a CSV or Parquet file through the data contract")
    ing.add_argument("file")
    ing.add_argument("--format", choices=["csv", "parquet", "azure", "llmperf", "mooncake", "routellm-mmlu",
                                              "routellm-gsm8k"],
                     help="request-log columns (csv, parquet; default from the file name) or a real trace")
    ing.add_argument("--end", type=_iso, help="traces without timestamps: end of the hour they are spread over")
    ing.add_argument("--json", action="store_true")
    ing.set_defaults(func=cmd_ingest)

    cfg = sub.add_parser("configs", help="list, show or diff published configs")
    cfg_sub = cfg.add_subparsers(dest="action", required=True)
    cfg_sub.add_parser("list")
    show = cfg_sub.add_parser("show")
    show.add_argument("service")
    show.add_argument("--version", type=int, help="default: latest")
    diff = cfg_sub.add_parser("diff")
    diff.add_argument("service")
    diff.add_argument("from_version", type=int, nargs="?", help="default: the one before to_version")
    diff.add_argument("to_version", type=int, nargs="?", help="default: latest")
    export = cfg_sub.add_parser("export", help="a published version as a LiteLLM router or Portkey config")
    export.add_argument("service")
    export.add_argument("--format", choices=["litellm", "portkey"], required=True)
    export.add_argument("--version", type=int, help="default: latest")
    back = cfg_sub.add_parser("rollback", help="publish an earlier version's routes as a new version")
    back.add_argument("service")
    back.add_argument("--to", type=int, help="version whose routes come back (default: the one before latest)")
    back.add_argument("--by", default=getpass.getuser(), help="who, for the audit trail")
    back.add_argument("--reason")
    cfg.set_defaults(func=cmd_configs)

    dec = sub.add_parser("decisions", help="list, show, approve or reject decisions")
    dec_sub = dec.add_subparsers(dest="action", required=True)
    dec_list = dec_sub.add_parser("list")
    dec_list.add_argument("--state", choices=["proposed", "approved", "rejected", "expired", "published",
                                              "monitoring", "confirmed", "rolled_back"])
    dec_list.add_argument("--service")
    dec_sub.add_parser("show").add_argument("id", type=int)
    for verb in ("approve", "reject"):
        p = dec_sub.add_parser(verb, help=f"{verb} a proposed decision" + (" and publish it" if verb == "approve" else ""))
        p.add_argument("id", type=int)
        p.add_argument("--by", default=getpass.getuser(), help="who, for the audit trail")
        p.add_argument("--note")
    dec.set_defaults(func=cmd_decisions)

    bench = sub.add_parser("bench", help="benchmarks")
    bench_sub = bench.add_subparsers(dest="action", required=True)
    decisions = bench_sub.add_parser("decisions", help="score the flow's calls in simulated worlds against an oracle")
    decisions.add_argument("--seeds", type=int, default=5)
    decisions.add_argument("--worlds", help="comma-separated world names (default: all)")
    bench.set_defaults(func=cmd_bench)

    serve = sub.add_parser("serve", help="run the flow on its hourly schedule in this process")
    serve.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # noqa: BLE001 - the CLI's contract: one line, non-zero exit
        print(f"llmopt: error: {type(err).__name__}: {err}".splitlines()[0], file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
