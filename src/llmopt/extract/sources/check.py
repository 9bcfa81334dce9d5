"""`llmopt sources check`: read one window of the configured source and run the real contract on it, writing nothing.

What a new user pastes into a bug report: rows read, mapped and quarantined (by reason), where each contract column
came from, the columns the source lacks, a few mapped rows, the quality coverage, and the strategies that cannot run.
A source may say where its fields come from with an optional method (see `describe_fields`).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime

import pandas as pd

from llmopt.domain import Window, redact_url
from llmopt.extract.schema import OPTIONAL_COLUMNS, REQUEST_COLUMNS, ROUTING_COLUMNS
from llmopt.extract.sources import SOURCE_FILE
from llmopt.validate.contract import MAPPING_REASON, ContractBreach

ABSENT = "absent (null)"
DERIVED_PROVIDER = "derived from model (price map)"     # the contract derives a missing provider (derive_provider)
SAMPLE_ROWS = 5
EXAMPLE_REJECTS = 3
SAMPLE_COLUMNS = ("request_id", "ts", "service", "task_type", "model", "prompt_tokens", "completion_tokens",
                  "latency_ms", "status", "cost_usd", "quality_score")
DESCRIBE_FIELDS = "describe_fields"
"""The optional source method: `describe_fields() -> dict[str, str]`, contract column → where it comes from in the
source's words, e.g. `{"service": "model_group (alias support/chat)", "variant": "resource:service.name",
"ttft_ms": "absent (null)"}`. A column it leaves out is described as `column <name>` if present, else absent."""


@dataclass(frozen=True)
class SourceCheck:
    """One window of a source as the contract sees it (`breach` set: the window would stop a run)."""

    kind: str
    location: str
    start: datetime
    end: datetime
    rows_read: int
    rows_mapped: int
    rows_quarantined: int
    quarantine_reasons: dict[str, int]
    rejected_examples: list[dict]              # a few quarantined rows: request_id, source_file, reason
    fields: dict[str, str]                     # contract column → where it comes from
    absent_columns: list[str]                  # contract columns the source does not give: null in every row
    null_columns: list[str]                    # given, but null in every row read in this window
    sample: list[dict]                         # a few mapped rows, compact columns
    quality_scored: int                        # mapped rows with a quality_score (after the feedback join)
    feedback_joined: int | None                # mapped rows that took a score from `feedback:` (None: not set)
    strategies_not_run: dict[str, str]         # enabled strategy → why it will not run
    breach: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def quality_share(self) -> float | None:
        return self.quality_scored / self.rows_mapped if self.rows_mapped else None

    def to_dict(self) -> dict:
        """JSON-ready (timestamps as ISO 8601)."""
        out = asdict(self)
        out.update(start=self.start.isoformat(), end=self.end.isoformat(), quality_share=self.quality_share)
        return out


def source_location(config, settings) -> str:
    """Where the source reads, passwords redacted: a table at a database URL, or a path."""
    where = []
    if config.kind == "sql":
        where.append(f"table {settings.requests_table} at {redact_url(settings.database_url)}")
    if getattr(config, "spend_logs_table", None):
        where.append(f"table {config.spend_logs_table} at {redact_url(settings.database_url)}")
    if getattr(config, "path", None):
        fmt = getattr(config, "format", "auto")
        where.append(redact_url(config.path) + (f" ({fmt})" if fmt != "auto" else ""))
    return "; ".join(where) or "unset"


def describe_fields(source, present: list[str]) -> dict[str, str]:
    """Contract column (and optional column) → where it comes from: the source's own words when it has
    `describe_fields()`, else `column <name>` for what it gives and `absent (null)` for the rest."""
    told = getattr(source, DESCRIBE_FIELDS, None)
    told = dict(told()) if callable(told) else {}
    have = set(present)
    out = {}
    for c in [*REQUEST_COLUMNS, *OPTIONAL_COLUMNS]:
        if c in told:
            out[c] = told[c]
        elif c in have:
            out[c] = f"column {c}"
        elif c in OPTIONAL_COLUMNS:
            continue                   # llmopt's own extras: listed only when a source gives them
        else:
            out[c] = ABSENT
    if out.get("provider") == ABSENT:
        out["provider"] = DERIVED_PROVIDER
    return out


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict]:
    # pandas' own JSON writer: NaN → null, timestamps → ISO 8601, numpy scalars → JSON numbers
    return json.loads(frame[columns].to_json(orient="records", date_format="iso", date_unit="s"))


def _reason_counts(rejected: pd.DataFrame) -> dict[str, int]:
    # the contract joins a row's reasons with "; " and counts each one (ValidationOutcome.reasons)
    counts = rejected["reason"].str.split("; ").explode().value_counts()
    return {str(r): int(n) for r, n in counts.items()}


def check_source(source, columns: list[str], contract, prices, policy, window: Window,
                 strategy_columns: dict[str, tuple[str, ...]], kind: str, location: str,
                 feedback=None) -> SourceCheck:
    """Read `window` from `source` and validate it as a run would; nothing is written (no quarantine).

    Args:
        columns: what a run reads (`llmopt.rollup.lookback.columns_to_read`).
        policy: its `max_bad_row_share` and `bad_row_share_min_rows` judge the window.
        strategy_columns: each enabled strategy's `spec.columns`.
        feedback: the `FeedbackLog` of `feedback:`, joined to the mapped rows as a rollup does (None: not set).

    Raises:
        Exception: whatever the source raises when it cannot be read (a missing file, a refused connection).
    """
    present = source.present_columns()
    clock = time.perf_counter()
    frame = source.read_partition(window.start, window.end, columns)
    seconds = {"read": round(time.perf_counter() - clock, 3)}
    clock = time.perf_counter()
    breach, valid, rejected, reasons = None, frame.iloc[0:0], frame.iloc[0:0].assign(reason=[]), {}
    if len(frame.columns):        # as a run: a source with nothing (no table, no files) has no rows to judge
        try:
            outcome = contract.validate(frame, ROUTING_COLUMNS, prices, policy.max_bad_row_share,
                                        (window.start, window.end), policy.bad_row_share_min_rows)
            valid, rejected, reasons = outcome.valid, outcome.rejected, outcome.reasons
        except ContractBreach as err:
            breach = str(err.located(window.label))
            if err.rejected is not None:
                rejected, reasons = err.rejected, _reason_counts(err.rejected)
    seconds["contract"] = round(time.perf_counter() - clock, 3)
    joined = None
    if feedback is not None:
        valid, info = feedback.join(valid, window.start, window.end)
        joined = info.scores
    fields = describe_fields(source, present)
    absent = [c for c in REQUEST_COLUMNS if fields[c].startswith("absent")]
    # judged on the mapped rows, as the pipeline judges its sample; on a breach, on what was read
    judged = valid if breach is None else frame
    null = [c for c in REQUEST_COLUMNS if c not in absent and c in judged.columns and len(judged)
            and judged[c].isna().all()]
    not_run = {}
    for name, needs in strategy_columns.items():
        lacking = [c for c in needs if c not in judged.columns or judged[c].isna().all()]
        if lacking:
            not_run[name] = f"needs {', '.join(lacking)}, which the source lacks"
    example_cols = [c for c in ("request_id", SOURCE_FILE, MAPPING_REASON, "reason") if c in rejected.columns]
    return SourceCheck(
        kind=kind, location=location, start=window.start, end=window.end,
        rows_read=len(frame), rows_mapped=len(valid) if breach is None else 0, rows_quarantined=len(rejected),
        quarantine_reasons=dict(reasons), rejected_examples=_records(rejected.head(EXAMPLE_REJECTS), example_cols),
        fields=fields, absent_columns=absent, null_columns=null,
        sample=_records(valid.head(SAMPLE_ROWS), [c for c in SAMPLE_COLUMNS if c in valid.columns]),
        quality_scored=int(valid["quality_score"].notna().sum()) if "quality_score" in valid.columns else 0,
        feedback_joined=joined, strategies_not_run=not_run, breach=breach, seconds=seconds)
