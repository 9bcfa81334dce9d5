"""One partition validated and reduced in DuckDB: the contract's row rules, the cells, the sample and the sketches
in SQL over the partition's Arrow table; only the quarantined rows and the sample become pandas.

`validate_and_reduce` returns None when the rows have a batch-level oddity (a missing or mistyped column, text in
a number column, a non-whole integer): the caller then runs the pandas path (`RequestContract.validate`), whose
breach names the column exactly. Healthy data, whatever its size, never leaves the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from llmopt.engine.prepare import FLAGGED_VIEW, PRICES_TABLE, ROWS_TABLE, prepare_rows, price_table
from llmopt.engine.reduce import cells_of, group_valid_rows, sample_of, statistics_from_groups
from llmopt.extract.frame_types import to_contract_frame, untyped_nulls
from llmopt.prices import PriceMap
from llmopt.validate.contract import ContractBreach, ContractViolation, RequestContract


@dataclass(frozen=True)
class EngineResult:
    """What the pandas path's `ValidationOutcome` + `reduce_partition` give, computed in the engine."""

    rows_read: int
    rejected: pd.DataFrame                # the quarantined rows as read, with `reason`
    reasons: dict[str, int]
    expectation_results: list[dict]
    cells: pd.DataFrame
    sample: pd.DataFrame
    sample_threshold: float
    statistics: pd.DataFrame              # `rollup.statistics`: by task, model and experiment variant

    @property
    def rows_quarantined(self) -> int:
        return len(self.rejected)


def connect(threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for one partition: UTC session time (naive text `ts` is UTC), no progress bar."""
    con = duckdb.connect(config={"threads": threads} if threads else {})
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    return con


def validate_and_reduce(table: pa.Table, contract: RequestContract, prices: PriceMap, required: tuple[str, ...],
                        window: tuple[datetime, datetime], max_bad_row_share: float, min_rows_for_share: int,
                        sample_rows: int) -> EngineResult | None:
    """Check `table` against the contract and reduce its valid rows, in DuckDB (see the module docstring).

    Raises:
        ContractBreach: the share of bad rows exceeds `max_bad_row_share` (on ≥ `min_rows_for_share` rows).
    """
    table = untyped_nulls(table)
    con = connect()
    try:
        source = table.append_column("__row", pa.array(np.arange(table.num_rows)))
        con.register("source_rows", source)
        con.register(PRICES_TABLE, price_table(prices))
        prepared = prepare_rows(con, table.schema, contract.suite_json, required, window)
        if prepared is None:
            return None
        rows_read, bad = con.execute(f"SELECT count(*), count(reason) FROM {ROWS_TABLE}").fetchall()[0]
        rejected = to_contract_frame(con.sql(        # the stored `reason` finds them; the rest is read as is
            f"SELECT {prepared.as_read_sql}, r.reason FROM {ROWS_TABLE} r JOIN source_rows s ON s.__row = r.__row "
            "WHERE r.reason IS NOT NULL ORDER BY r.__row"
        ).to_arrow_table())
        reasons = _reason_counts(con, prepared) if bad else {}
        results = _expectation_results(contract.suite_json, prepared, reasons)
        if rows_read and bad / rows_read > max_bad_row_share and rows_read >= min_rows_for_share:
            top = ", ".join(f"{r} ×{n}" for r, n in list(reasons.items())[:3])
            raise ContractBreach([ContractViolation(
                None, "max_bad_row_share", f"{bad / rows_read:.1%} of rows broke row-level expectations > "
                f"{max_bad_row_share:.1%}; top reasons: {top}")], rejected=rejected)
        group_valid_rows(con, prepared)
        cells = cells_of(con, prepared)
        sample, threshold = sample_of(con, prepared, source, rows_read - bad, sample_rows)
        statistics = statistics_from_groups(con)
        return EngineResult(rows_read, rejected, reasons, results, cells, sample, threshold, statistics)
    finally:
        con.close()


def _reason_counts(con, prepared) -> dict[str, int]:
    """How many rows gave each reason (a row with two reasons counts for both), most common first; ties in the
    order the rows first give them, as the pandas path's `Counter` lists them. Read from the flagged view (the
    rule flags are not stored): a second pass, only for partitions with bad rows."""
    found = []       # (count, first row, rank in the contract, reason)
    if prepared.rules:
        stats = con.execute("SELECT " + ", ".join(f"count_if(__r{i}), min(__row) FILTER (WHERE __r{i})"
                                                  for i in range(len(prepared.rules))) + f" FROM {FLAGGED_VIEW}"
                            ).fetchall()[0]
        found += [(stats[2 * i], stats[2 * i + 1], i, r.reason) for i, r in enumerate(prepared.rules)]
    for rank, sql in enumerate([*prepared.pre_reasons, "price_reason"]):
        found += [(n, first, -len(prepared.pre_reasons) + rank, reason) for reason, n, first in con.execute(
            f"SELECT {sql} AS r, count(*), min(__row) FROM {FLAGGED_VIEW} WHERE {sql} IS NOT NULL GROUP BY r"
        ).fetchall()]
    return {reason: int(n) for n, _, _, reason in sorted((f for f in found if f[0]), key=lambda f: (-f[0], f[1], f[2]))}


def _expectation_results(suite: dict, prepared, rule_counts: dict[str, int]) -> list[dict]:
    """One entry per expectation checked, as the pandas path summarizes GX's results (MLflow's validation file)."""
    out = []
    checked = {id(r.expectation) for r in prepared.rules}
    for exp in suite["expectations"]:
        cols = [exp["kwargs"][k] for k in ("column", "column_A", "column_B") if k in exp["kwargs"]]
        if exp["meta"].get("level") == "batch" and set(cols) <= prepared.columns:
            out.append({"expectation": exp["type"], "columns": cols, "level": "batch", "success": True,
                        "unexpected_count": None, "observed_value": None})
        elif id(exp) in checked:
            n = int(rule_counts.get(exp["meta"].get("reason", exp["type"]), 0))
            out.append({"expectation": exp["type"], "columns": cols, "level": exp["meta"].get("level"),
                        "success": n == 0, "unexpected_count": n, "observed_value": str(n)})
    return out
