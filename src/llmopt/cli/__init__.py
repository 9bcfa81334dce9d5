"""The `llmopt` command line: demo, run, generate, ingest, configs, decisions, sources, bench, serve.

Commands that run a flow find it by name (entry points `llmopt.flows`), so this package never imports
prefect or the orchestration layer itself. `--config FILE` is accepted before or after any subcommand.
"""

from __future__ import annotations

import argparse
import atexit
import getpass
import os
import signal
import sys
from datetime import datetime, timezone

_EXIT_CODE: list[int] = []


@atexit.register        # registered before any library's handler, so it runs after all of them (last in, first out)
def _exit_now() -> None:
    if _EXIT_CODE:      # only the `llmopt` command: `main` called in a Python session exits as usual
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_CODE[0])


# imported after the handler is registered, with the libraries they load (and their own exit handlers)
from llmopt.cli.configs import cmd_configs, poll_interval  # noqa: E402
from llmopt.cli.decisions import cmd_decisions  # noqa: E402
from llmopt.cli.runs import cmd_bench, cmd_demo, cmd_generate, cmd_ingest, cmd_run, cmd_serve  # noqa: E402
from llmopt.cli.sources import cmd_sources  # noqa: E402

QUIET_ENV = {  # no network here: turn telemetry off before prefect / mlflow / gx are imported
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true", "GX_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",   # keeps `run --json` output pure JSON
    # the temporary Prefect server needs ~9 s on an idle machine; Prefect's default wait fails a busy one
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
}
EPHEMERAL_REMEDY = ("the temporary Prefect server did not start in time (PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="
                    "{timeout}); on a busy machine raise it, or start `prefect server start` once and set "
                    "PREFECT_API_URL=http://127.0.0.1:4200/api")


def _iso(value: str) -> datetime:
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not an ISO timestamp: {value!r}") from err
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts


CONFIG_HELP = "settings file (default ./llmopt.yaml if present), before or after the subcommand"
# every subcommand also takes --config; SUPPRESS keeps a value given before the subcommand
CONFIG_AFTER = argparse.ArgumentParser(add_help=False)
CONFIG_AFTER.add_argument("--config", default=argparse.SUPPRESS, help=CONFIG_HELP)


def _add(group, name: str, **kwargs) -> argparse.ArgumentParser:
    return group.add_parser(name, parents=[CONFIG_AFTER], **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmopt", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, help=CONFIG_HELP)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = _add(sub, "demo", help="generate a synthetic hour if needed and run the flow on it")
    demo.add_argument("--rows", type=int, default=120_000)
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(func=cmd_demo)

    run = _add(sub, "run", help="run the hourly-optimization flow once")
    run.add_argument("--start", type=_iso, help="window start, ISO 8601 (UTC if no offset)")
    run.add_argument("--end", type=_iso, help="window end (exclusive)")
    run.add_argument("--dry-run", action="store_true", help="evaluate and record, publish nothing")
    run.add_argument("--approval", choices=["auto", "manual"], help="override the policy's approval mode")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.set_defaults(func=cmd_run)

    gen = _add(sub, "generate", help="append a synthetic workload to the request log")
    gen.add_argument("--rows", type=int, required=True)
    gen.add_argument("--hours", type=int, default=1)
    gen.add_argument("--seed", type=int, default=7)
    gen.add_argument("--end", type=_iso, help="end of the last hour (default: end of the last complete hour)")
    gen.add_argument("--exploration-share", type=float, default=0.10)
    gen.set_defaults(func=cmd_generate)

    ing = _add(sub, "ingest", help="load a CSV or Parquet file through the data contract")
    ing.add_argument("file")
    ing.add_argument("--format", choices=["csv", "parquet", "azure", "llmperf", "mooncake", "routellm-mmlu",
                                              "routellm-gsm8k"],
                     help="request-log columns (csv, parquet; default from the file name) or a real trace")
    ing.add_argument("--end", type=_iso, help="traces without timestamps: end of the hour they are spread over")
    ing.add_argument("--json", action="store_true")
    ing.set_defaults(func=cmd_ingest)

    cfg = _add(sub, "configs", help="list, show or diff published configs")
    cfg_sub = cfg.add_subparsers(dest="action", required=True)
    _add(cfg_sub, "list")
    show = _add(cfg_sub, "show")
    show.add_argument("service")
    show.add_argument("--version", type=int, help="default: latest")
    diff = _add(cfg_sub, "diff")
    diff.add_argument("service")
    diff.add_argument("from_version", type=int, nargs="?", help="default: the one before to_version")
    diff.add_argument("to_version", type=int, nargs="?", help="default: latest")
    export = _add(cfg_sub, "export", help="a published version as a LiteLLM router or Portkey config")
    export.add_argument("service")
    export.add_argument("--format", choices=["litellm", "portkey"], required=True)
    export.add_argument("--version", type=int, help="default: latest")
    back = _add(cfg_sub, "rollback", help="publish an earlier version's routes as a new version")
    back.add_argument("service")
    back.add_argument("--to", type=int, help="version whose routes come back (default: the one before latest)")
    back.add_argument("--by", default=getpass.getuser(), help="who, for the audit trail")
    back.add_argument("--reason")
    wait = _add(cfg_sub, "wait", help="exit 0, printing its version, once a proxy config newer than --after is "
                                      "published (exit 1 at --timeout)")
    wait.add_argument("--export", choices=["litellm"], required=True)
    wait.add_argument("--after", type=int, default=0, help="the version the proxy runs (default 0: any)")
    wait.add_argument("--timeout", type=float, help="seconds (default: wait for ever)")
    wait.add_argument("--interval", type=poll_interval, default=5.0, help="seconds between polls, 0.1 to 300")
    cfg.set_defaults(func=cmd_configs)

    dec = _add(sub, "decisions", help="list, show, approve or reject decisions")
    dec_sub = dec.add_subparsers(dest="action", required=True)
    dec_list = _add(dec_sub, "list")
    dec_list.add_argument("--state", choices=["proposed", "approved", "rejected", "expired", "published",
                                              "monitoring", "confirmed", "rolled_back"])
    dec_list.add_argument("--service")
    _add(dec_sub, "show").add_argument("id", type=int)
    for verb in ("approve", "reject"):
        p = _add(dec_sub, verb, help=f"{verb} a proposed decision" + (" and publish it" if verb == "approve" else ""))
        p.add_argument("id", type=int)
        p.add_argument("--by", default=getpass.getuser(), help="who, for the audit trail")
        p.add_argument("--note")
    dec.set_defaults(func=cmd_decisions)

    src = _add(sub, "sources", help="check the configured request source")
    src_sub = src.add_subparsers(dest="action", required=True)
    check = _add(src_sub, "check", help="read one window through the contract and say what it found; writes nothing")
    check.add_argument("--start", type=_iso, help="window start, ISO 8601 (default: the last complete hour)")
    check.add_argument("--end", type=_iso, help="window end (exclusive)")
    check.add_argument("--json", action="store_true", help="print the check as JSON")
    src.set_defaults(func=cmd_sources)

    bench = _add(sub, "bench", help="benchmarks")
    bench_sub = bench.add_subparsers(dest="action", required=True)
    decisions = _add(bench_sub, "decisions", help="score the flow's calls in simulated worlds against an oracle")
    decisions.add_argument("--seeds", type=int, default=5)
    decisions.add_argument("--worlds", help="comma-separated world names (default: all)")
    decisions.add_argument("--history-hours", type=int, default=24,
                           help="hours of traffic before the decided hour (pooled by the lookback)")
    loop = _add(bench_sub, "loop", help="closed loop: a simulated gateway follows the published configs hour after hour")
    loop.add_argument("--world", default="clear-win", help="a decision-benchmark world (e.g. none-good-enough)")
    loop.add_argument("--hours", type=int, default=168)
    loop.add_argument("--rows-per-task", type=int, default=3000)
    loop.add_argument("--seed", type=int, default=1)
    loop.add_argument("--out", default="bench-loop", help="folder for the hourly log, the summary and the plot")
    scale = _add(bench_sub, "scale", help="a lake of N rows over H hours through `llmopt run`, cold and warm")
    scale.add_argument("--rows", type=int, default=10_000_000)
    scale.add_argument("--hours", type=int, default=24)
    scale.add_argument("--format", choices=["parquet", "sqlite", "postgres"], default="parquet")
    scale.add_argument("--keep", help="keep the lake and stores in this folder (default: a temporary one)")
    scale.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="a setting for the measured runs, e.g. --set dask_workers=2 (repeatable)")
    srcb = _add(bench_sub, "sources", help="read + map rows/s of a source format (generated logs, one hour)")
    srcb.add_argument("--format", choices=["litellm", "langfuse", "otel"], required=True)
    srcb.add_argument("--rows", type=int, default=100_000)
    bench.set_defaults(func=cmd_bench)

    serve = _add(sub, "serve", help="run the flow on its hourly schedule in this process")
    serve.set_defaults(func=cmd_serve)
    return parser


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None, as_command: bool = False) -> int:
    """Run one subcommand; `as_command`: this process is the `llmopt` command and ends when it returns."""
    effective = {key: os.environ.setdefault(key, value) for key, value in QUIET_ENV.items()}
    # SIGTERM (a scheduler stopping the job) unwinds like Ctrl-C, so Prefect stops its temporary server too
    signal.signal(signal.SIGTERM, _terminate)
    args = build_parser().parse_args(argv)
    args.as_command = as_command
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130         # also after SIGTERM: the shell's convention for "interrupted"
    except Exception as err:  # noqa: BLE001 - the CLI's contract: one line, non-zero exit
        message = f"{type(err).__name__}: {err}".splitlines()[0]
        if "ephemeral Prefect API server" in message:
            message = EPHEMERAL_REMEDY.format(
                timeout=effective["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"])
        print(f"llmopt: error: {message}", file=sys.stderr)
        return 1


def run_command() -> int:
    """The `llmopt` command's entry point: `main`, then an exit without the interpreter's teardown.

    A run loads pandas, MLflow, Prefect and DuckDB; tearing their objects down took ~1.8 s at every exit, after all
    the work was done. So the command ends with `os._exit` once every exit handler has run (`_exit_now`, the
    first registered, runs last): Prefect's log and event workers have drained, its temporary server has stopped,
    every store is closed and the output flushed.
    """
    code = main(as_command=True)
    _EXIT_CODE.append(code)
    return code


if __name__ == "__main__":
    sys.exit(run_command())
