"""`llmopt sources check`: one window of the configured source through the real contract, before anything runs.

No Prefect, no MLflow (it must answer in seconds) and nothing written: the quarantine table is left as it is.
"""

from __future__ import annotations

import argparse
import json
import sys

SAMPLE_WIDTH = 28       # longest cell of the sample table (ids and names are cut, with …)


def _cell(value) -> str:
    text = "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
    return text if len(text) <= SAMPLE_WIDTH else text[:SAMPLE_WIDTH - 1] + "…"


def _table(rows: list[dict], indent: str) -> list[str]:
    columns = list(rows[0])
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = lambda values: indent + "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()  # noqa: E731
    return [line(columns)] + [line(row) for row in cells]


def _share(part: int, whole: int, what: str) -> str:
    return f"{part:,} of {whole:,} mapped rows ({part / whole:.1%}) {what}" if whole else "no mapped rows"


def format_check(check) -> str:
    """A readable block for the terminal (what a user pastes into a bug report), like `format_summary`."""
    pad = " " * 14
    lines = [f"source        {check.kind}: {check.location}",
             f"window        {check.start.isoformat()} → {check.end.isoformat()}",
             f"rows          {check.rows_read:,} read, {check.rows_mapped:,} mapped, "
             f"{check.rows_quarantined:,} quarantined (read {check.seconds.get('read', 0):g} s, "
             f"contract {check.seconds.get('contract', 0):g} s)"]
    if not check.rows_read:
        lines.append(f"{pad}  no rows in the window: is it the hour the tool logged (--start, --end, UTC)?")
    lines += [f"{pad}  quarantined ×{n}: {reason}" for reason, n in check.quarantine_reasons.items()]
    for row in check.rejected_examples:
        lines.append(f"{pad}  e.g. {row.get('request_id')}" + (f" in {row['source_file']}" if row.get("source_file")
                                                               else "") + f": {row['reason']}")
    lines.append(f"contract      {'breached: ' + check.breach if check.breach else 'passed'}")
    width = max(len(c) for c in check.fields)
    lines.append("fields")
    lines += [f"  {column.ljust(width)}  {origin}" for column, origin in check.fields.items()]
    lines.append(f"absent        {', '.join(check.absent_columns) or 'none'}"
                 + (" (null in every row)" if check.absent_columns else ""))
    if check.null_columns:
        lines.append(f"null here     {', '.join(check.null_columns)} (given, but null in every row of the window)")
    lines.append(f"quality       {_share(check.quality_scored, check.rows_mapped, 'have a quality_score')}")
    if check.feedback_joined is not None:
        lines.append(f"feedback      {_share(check.feedback_joined, check.rows_mapped, 'joined a feedback score')}")
    lines += [f"will not run  {name}: {why}" for name, why in check.strategies_not_run.items()]
    if check.sample:
        lines.append(f"mapped rows   first {len(check.sample)}")
        lines += _table(check.sample, "  ")
    return "\n".join(lines)


def run_check(config_file: str | None, start, end):
    """The check of the window [start, end) (default: the last complete hour) of the configured source."""
    from llmopt.domain import Window
    from llmopt.evaluate.registry import strategy
    from llmopt.extract.sources import effective_source
    from llmopt.extract.sources.check import check_source, source_location
    from llmopt.resources import open_resources
    from llmopt.rollup.lookback import columns_to_read
    from llmopt.settings import Settings

    settings = Settings.load(config_file)
    res = open_resources(settings)
    window = Window.resolve(start, end)
    feedback = None
    if settings.feedback is not None:
        from llmopt.extract.feedback import FeedbackLog

        feedback = FeedbackLog(settings.feedback, settings.feedback_delay_hours, res.engine, settings.s3_endpoint_url)
    config = effective_source(settings)
    return check_source(res.request_source, columns_to_read(res), res.contract, res.prices, settings.policy, window,
                        {name: strategy(name).columns for name in settings.strategies}, config.kind,
                        source_location(config, settings), feedback)


def cmd_sources(args: argparse.Namespace) -> int:
    check = run_check(args.config, args.start, args.end)
    print(json.dumps(check.to_dict(), indent=2) if args.json else format_check(check))
    if check.breach:      # the report is printed first: its reasons are what the user needs
        print(f"llmopt: error: ContractBreach: {check.breach}".splitlines()[0], file=sys.stderr)
        return 1
    return 0
