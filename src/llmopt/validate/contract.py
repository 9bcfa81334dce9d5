"""The request-log data contract: a Great Expectations 1.x suite stored in data_contracts/.

Each expectation's `meta.level` says what a breach means: `batch` stops the run (a missing or
mistyped column), `row` quarantines the offending rows with `meta.reason`.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from llmopt.extract.frame_types import conform_frame, derive_provider, with_absent_as_null
from llmopt.prices import PriceMap

SUITE_FILE = "llm_requests.suite.json"
_GX_LOCK = threading.Lock()
TS_COLUMN = "ts"
UTC_NANOSECONDS = pd.DatetimeTZDtype("ns", "UTC")


@dataclass(frozen=True)
class ContractViolation:
    """A batch-level breach: which column, which expectation, what was seen."""

    column: str | None
    expectation: str
    detail: str

    def __str__(self) -> str:
        return f"{self.column or '<table>'}: {self.expectation} failed ({self.detail})"


class ContractBreach(Exception):
    """The window as a whole breaks the contract; nothing may be published."""

    def __init__(self, violations: list[ContractViolation], rejected: pd.DataFrame | None = None,
                 where: str | None = None):
        self.violations = violations
        self.rejected = rejected       # rows already known to be bad, kept for the quarantine
        self.where = where             # the partition it was found in, e.g. `window 2026-11-20T10:00/…`
        super().__init__((f"{where}: " if where else "") + "data contract breached: "
                         + "; ".join(str(v) for v in violations))

    def located(self, where: str) -> "ContractBreach":
        """The same breach, naming the partition it was found in."""
        return ContractBreach(self.violations, self.rejected, where)


@dataclass(frozen=True)
class ValidationOutcome:
    """The window split into rows that passed and rows quarantined with their reasons."""

    valid: pd.DataFrame
    rejected: pd.DataFrame
    reasons: dict[str, int] = field(default_factory=dict)
    expectation_results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return len(self.valid) + len(self.rejected)

    @property
    def rows_quarantined(self) -> int:
        return len(self.rejected)

    @property
    def bad_row_share(self) -> float:
        return self.rows_quarantined / self.rows_read if self.rows_read else 0.0


def _columns_of(kwargs: dict[str, Any]) -> list[str]:
    return [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs]


@lru_cache(maxsize=1)
def _gx_batch_definition():
    # An ephemeral, quiet GX context: no analytics (no network here), no progress bars.
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig, InMemoryStoreBackendDefaults, ProgressBarsConfig)

    config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(),
                               analytics_enabled=False,
                               progress_bars=ProgressBarsConfig(globally=False))
    context = gx.get_context(mode="ephemeral", project_config=config)
    asset = context.data_sources.add_pandas("llmopt").add_dataframe_asset("requests")
    return asset.add_batch_definition_whole_dataframe("window")


def _type_breach(series: pd.Series, kind: str) -> str | None:
    """Why `series` does not hold `kind` values (None if it does). All-null columns pass."""
    if series.isna().all():
        return None
    api = pd.api.types
    ok = {
        "string": lambda s: api.is_string_dtype(s),
        "timestamp": lambda s: isinstance(s.dtype, pd.DatetimeTZDtype),
        "number": lambda s: api.is_numeric_dtype(s) and not api.is_bool_dtype(s),
        # Integer columns read as float when they hold nulls; the values must still be whole.
        "integer": lambda s: api.is_integer_dtype(s) or (
            api.is_float_dtype(s) and bool((s.dropna() % 1 == 0).all())),
    }[kind](series)
    return None if ok else f"expected {kind}, found {series.dtype}"


def _numbers_in_text(frame: pd.DataFrame, kinds: dict[str, str], row_reasons: dict) -> pd.DataFrame:
    """Parse numeric columns that arrived as text (SQLite keeps whatever was inserted, e.g. `'abc'`).

    Values that are not numbers quarantine their row (`<column> is not a number`); a column in which no value
    parses stays as it is and is reported as mistyped (a renamed or swapped column is not a few bad rows).
    """
    casts = {}
    for c, kind in kinds.items():
        if c not in frame.columns or kind not in ("number", "integer") or pd.api.types.is_numeric_dtype(frame[c]):
            continue
        parsed, present = pd.to_numeric(frame[c], errors="coerce"), frame[c].notna()
        bad = present & parsed.isna()
        if bad.any() and bad[present].all():
            continue                  # nothing parses: left for the mistyped-column check
        for idx in frame.index[bad]:
            row_reasons.setdefault(idx, []).append(f"{c} is not a number")
        casts[c] = parsed
    return frame.assign(**casts) if casts else frame


def _outside_window(frame: pd.DataFrame, window, row_reasons: dict) -> None:
    """Rows whose UTC time is not in the window they were read for: a non-UTC offset or a non-ISO `ts` that
    SQLite (which compares `ts` as text) filed under another hour. Quarantined, so they are never lost."""
    if window is None or TS_COLUMN not in frame.columns:
        return
    ts = frame[TS_COLUMN]
    for idx in frame.index[ts.notna() & ((ts < pd.Timestamp(window[0])) | (ts >= pd.Timestamp(window[1])))]:
        row_reasons.setdefault(idx, []).append("ts is outside the hour it is stored under (store ts in UTC)")


MAPPING_REASON = "mapping_reason"      # a source's own reason a row is bad (unparseable, a field it could not map)


def _mapping_reasons(frame: pd.DataFrame, row_reasons: dict) -> None:
    """Rows a source already found bad (`mapping_reason` set: not valid JSON, a required field not mapped) are
    quarantined with that reason alone; the rules are not run on them (their nulls would only repeat it)."""
    if MAPPING_REASON not in frame.columns:
        return
    reasons = frame[MAPPING_REASON]
    for idx, reason in reasons[reasons.notna()].items():
        row_reasons.setdefault(idx, []).append(str(reason))


def _cast_empty_columns(frame: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    # A column that is null in every row carries no type; give it the contract's type.
    casts = {c: float for c, k in kinds.items()
             if c in frame.columns and k in ("number", "integer") and frame[c].isna().all()}
    return frame.astype(casts) if casts else frame


def parse_timestamps(frame: pd.DataFrame) -> pd.DataFrame:
    """Parse `ts` to UTC once at the boundary (naive = UTC), as `datetime64[ns, UTC]` whatever the source's unit;
    unparseable values become NaT (a row-level breach)."""
    if TS_COLUMN in frame.columns and not isinstance(frame[TS_COLUMN].dtype, pd.DatetimeTZDtype):
        col = frame[TS_COLUMN]
        if col.isna().all() or pd.api.types.is_object_dtype(col) or pd.api.types.is_string_dtype(col) \
                or pd.api.types.is_datetime64_any_dtype(col):
            frame = frame.assign(ts=pd.to_datetime(col, utc=True, errors="coerce", format="ISO8601"))
    if TS_COLUMN in frame.columns and isinstance(frame[TS_COLUMN].dtype, pd.DatetimeTZDtype) \
            and frame[TS_COLUMN].dtype != UTC_NANOSECONDS:
        try:
            frame = frame.assign(ts=frame[TS_COLUMN].dt.tz_convert("UTC").astype(UTC_NANOSECONDS))
        except (OverflowError, pd.errors.OutOfBoundsDatetime):
            pass                        # beyond 2262 in ns: kept in its unit (no window reads it anyway)
    return frame


class RequestContract:
    """Validates request-log frames against the stored suite.

    Args:
        contracts_dir: folder holding `llm_requests.suite.json`.
    """

    def __init__(self, contracts_dir: Path):
        self.suite_path = Path(contracts_dir) / SUITE_FILE
        self.suite_json = json.loads(self.suite_path.read_text())

    def _suite_for(self, columns: set[str]):
        import great_expectations as gx
        from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

        suite = gx.ExpectationSuite(name=self.suite_json["name"])
        kept = []
        for exp in self.suite_json["expectations"]:
            if set(_columns_of(exp["kwargs"])) <= columns:
                suite.add_expectation_configuration(
                    ExpectationConfiguration(type=exp["type"], kwargs=exp["kwargs"], meta=exp["meta"]))
                kept.append(exp)
        return suite, kept

    def validate(self, frame: pd.DataFrame, required_columns: list[str] | tuple[str, ...],
                 prices: PriceMap, max_bad_row_share: float, window=None,
                 min_rows_for_share: int = 1) -> ValidationOutcome:
        """Split `frame` into valid and quarantined rows, by every rule on the columns it has.

        Args:
            window: the [start, end) the rows were read for; a row whose UTC `ts` lies outside is quarantined.
            min_rows_for_share: the bad-row share is judged only on at least this many rows (below, bad rows
                are quarantined and counted, but a share of a handful of rows stops nothing).

        Raises:
            ContractBreach: a required column is missing or mistyped, or the share of bad rows
                exceeds `max_bad_row_share`. The message names columns and expectations.
        """
        # one set of dtypes whoever wrote the rows (frame_types); a column that may be absent is null
        as_read = with_absent_as_null(conform_frame(frame.reset_index(drop=True)), required_columns)
        as_read = derive_provider(as_read, prices.provider_of)
        frame = parse_timestamps(as_read)
        required = set(required_columns)
        missing = [c for c in required_columns if c not in frame.columns]
        if missing:
            raise ContractBreach([ContractViolation(c, "expect_column_to_exist", "column not found")
                                  for c in missing])
        if frame.empty:
            return ValidationOutcome(valid=frame, rejected=frame.assign(reason=pd.Series(dtype=str)))
        kinds = self.suite_json["meta"]["column_types"]
        row_reasons: dict = {}
        frame = _cast_empty_columns(_numbers_in_text(frame, kinds, row_reasons), kinds)
        mistyped = [ContractViolation(c, f"expect_column_values_to_be_of_type({kinds[c]})", why)
                    for c in frame.columns if c in kinds and (why := _type_breach(frame[c], kinds[c]))]
        if mistyped:
            raise ContractBreach(mistyped)
        _outside_window(frame, window, row_reasons)
        _mapping_reasons(frame, row_reasons)
        suite, kept = self._suite_for(set(frame.columns))      # every rule on a column read, not only required
        checked = frame.drop(index=list(row_reasons)) if row_reasons else frame
        with _GX_LOCK:     # one GX context per process, and it is not thread-safe: a batch can see another's frame
            batch = _gx_batch_definition().get_batch(batch_parameters={"dataframe": checked})
            result = batch.validate(suite, result_format={"result_format": "COMPLETE"})

        violations, summary = [], []
        for res in result.results:
            cfg = res.expectation_config
            meta = cfg.meta or {}
            cols = _columns_of(cfg.kwargs)
            detail = res.result.get("observed_value", res.result.get("unexpected_count"))
            summary.append({"expectation": cfg.type, "columns": cols, "level": meta.get("level"),
                            "success": bool(res.success), "unexpected_count": res.result.get("unexpected_count"),
                            "observed_value": None if detail is None else str(detail)})
            if res.success:
                continue
            if meta.get("level") == "batch":
                violations.append(ContractViolation(cols[0] if cols else None, cfg.type, f"observed {detail}"))
            else:
                for idx in res.result.get("unexpected_index_list") or []:
                    row_reasons.setdefault(idx, []).append(meta.get("reason", cfg.type))
        if violations:
            raise ContractBreach(violations)

        # GX returns results in its own order; list a row's reasons in the contract's order.
        rank = {e["meta"].get("reason"): i for i, e in enumerate(kept)}
        row_reasons = {i: sorted(r, key=lambda x: rank.get(x, len(rank))) for i, r in row_reasons.items()}
        self._check_priced(frame, prices, row_reasons)
        bad = pd.Index(sorted(row_reasons), dtype=frame.index.dtype)
        rejected = as_read.loc[bad].assign(reason=["; ".join(row_reasons[i]) for i in bad])   # values as read
        valid = frame.drop(index=bad).drop(columns=[MAPPING_REASON], errors="ignore")
        reasons = Counter(r for i in bad for r in row_reasons[i])
        outcome = ValidationOutcome(valid, rejected, dict(reasons.most_common()), summary)
        if outcome.bad_row_share > max_bad_row_share and outcome.rows_read >= min_rows_for_share:
            top = ", ".join(f"{r} ×{n}" for r, n in reasons.most_common(3))
            raise ContractBreach([ContractViolation(
                None, "max_bad_row_share",
                f"{outcome.bad_row_share:.1%} of rows broke row-level expectations > "
                f"{max_bad_row_share:.1%}; top reasons: {top}")], rejected=rejected)
        return outcome

    @staticmethod
    def _check_priced(frame: pd.DataFrame, prices: PriceMap, row_reasons: dict) -> None:
        """A row with no logged cost needs a price for its model, or its cost is unknown."""
        if "cost_usd" not in frame.columns:
            return
        unpriced_models = {m for m in frame["model"].dropna().unique() if prices.get(m) is None}
        if not unpriced_models:
            return
        mask = frame["cost_usd"].isna() & frame["model"].isin(unpriced_models) & ~frame.index.isin(list(row_reasons))
        for idx, model in frame.loc[mask, "model"].items():     # a row already bad for its model says that only
            row_reasons.setdefault(idx, []).append(f"no price for model {model} and cost_usd is null")
