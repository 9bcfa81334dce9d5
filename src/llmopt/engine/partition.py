"""One partition validated and reduced in DuckDB: the contract's row rules, the cells, the sample and the sketches
in SQL over the partition's Arrow table; only the quarantined rows and the sample become pandas.

`validate_and_reduce` returns None when the rows have a batch-level oddity (a missing or mistyped column, text in
a number column, a non-whole integer): the caller then runs the pandas path (`RequestContract.validate`), whose
breach names the column exactly. Healthy data, whatever its size, never leaves the engine.
"""

from __future__ import annotations

import functools
import os
import threading
from dataclasses import dataclass
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from llmopt.engine.prepare import FLAGGED_VIEW, PRICES_TABLE, prepare_rows, price_table
from llmopt.engine.reduce import cells_of, first_key_bound, group_rows, sample_of, statistics_from_groups
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


@functools.cache
def _database() -> duckdb.DuckDBPyConnection:
    """The process's in-memory DuckDB, opened on first use."""
    return duckdb.connect()


CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
_THREADS_SET = threading.Lock()
_threads_set: int | None = None        # what `use_threads` last set (None: DuckDB's default)


def use_threads(at_once: int, cores: int = CORES) -> int:
    """Give the process's DuckDB the cores shared among `at_once` partitions (two queries on all of them at
    once slowed each other: the day took twice as long); returns the threads."""
    global _threads_set
    threads = max(1, cores // at_once)
    with _THREADS_SET:
        # DuckDB's own default (every core) needs no database yet: opened before a SQLite slice's read rather
        # than after it, it left that hour's peak RSS ~50 MB higher (648-662 MB against 578-598 MB)
        if threads != (_threads_set or cores):
            with _database().cursor() as con:       # a cursor each: partitions call this from their threads
                con.execute(f"SET GLOBAL threads = {threads}")
            _threads_set = threads
    return threads


def connect() -> duckdb.DuckDBPyConnection:
    """A connection for one partition (its own temp tables and registered tables) to the process's in-memory
    DuckDB: UTC session time (naive text `ts` is UTC), no progress bar. One database, not one per partition:
    opening one cost ~20-40 ms a partition; closing the connection drops what the partition made."""
    con = _database().cursor()
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
        source = _in_batches(table.append_column("__row", pa.array(np.arange(table.num_rows))))
        con.register("source_rows", source)
        con.register(PRICES_TABLE, price_table(prices))
        prepared = prepare_rows(con, table.schema, contract.suite_json, required, window)
        if prepared is None:
            return None
        key_bound = first_key_bound(table.num_rows, sample_rows)
        rows_read, bad = group_rows(con, prepared, key_bound)
        rejected, reasons = _bad_rows(con, prepared, bad > 0)
        results = _expectation_results(contract.suite_json, prepared, reasons)
        if rows_read and bad / rows_read > max_bad_row_share and rows_read >= min_rows_for_share:
            top = ", ".join(f"{r} ×{n}" for r, n in list(reasons.items())[:3])
            raise ContractBreach([ContractViolation(
                None, "max_bad_row_share", f"{bad / rows_read:.1%} of rows broke row-level expectations > "
                f"{max_bad_row_share:.1%}; top reasons: {top}")], rejected=rejected)
        cells = cells_of(con)
        sample, threshold = sample_of(con, prepared, source, rows_read - bad, sample_rows, key_bound)
        statistics = statistics_from_groups(con)
        return EngineResult(rows_read, rejected, reasons, results, cells, sample, threshold, statistics)
    finally:
        con.close()


SCAN_BATCH_ROWS = 16_384


def _in_batches(table: pa.Table) -> pa.Table:
    """`table` as record batches of ≤ `SCAN_BATCH_ROWS` rows (zero-copy slices): DuckDB's threads take a registered
    table's batches one at a time, so a Parquet file's few 131k-row batches left one thread the last big one
    (`group_rows` ~18% faster on a 417k-row partition, 2 threads)."""
    return pa.Table.from_batches(table.to_batches(max_chunksize=SCAN_BATCH_ROWS), schema=table.schema)


def _bad_rows(con, prepared, any_bad: bool) -> tuple[pd.DataFrame, dict[str, int]]:
    """The quarantined rows as read (with `reason`), in row order, and how many rows gave each reason (a row with
    two reasons counts for both), most common first; ties in the order the rows first give them, as the pandas
    path's `Counter` lists them. One read of the flagged view's bad rows, with each rule's flag; none at all when
    `any_bad` is false (binding the view costs ~25 ms): the empty quarantine still has the columns as read."""
    if not any_bad:
        schema = prepared.as_read_schema.append(pa.field("reason", pa.string()))
        return to_contract_frame(schema.empty_table()), {}
    flags = [f"__r{i}" for i in range(len(prepared.rules))]
    found = [f"__p{j}" for j in range(len(prepared.pre_reasons) + 1)]    # each reason found before the rules, priced
    found_sql = [f"{sql} AS {name}" for sql, name in zip([*prepared.pre_reasons, "price_reason"], found)]
    kept = ", ".join(f"b.{c}" for c in ["__row AS __bad_row", *flags, *found])
    table = con.sql(
        f"SELECT {prepared.as_read_sql}, b.reason, {kept} "
        f"FROM (SELECT __row, provider, reason, {', '.join(flags + found_sql)} FROM {FLAGGED_VIEW} "
        f"WHERE {'reason IS NOT NULL' if any_bad else 'FALSE'}) b "
        "JOIN source_rows s ON s.__row = b.__row ORDER BY b.__row").to_arrow_table()
    extra = ["__bad_row", *flags, *found]
    row = table.column("__bad_row").to_numpy()
    counted = []       # (count, first row, rank in the contract, reason)
    for i, rule in enumerate(prepared.rules):
        hit = table.column(flags[i]).to_numpy(zero_copy_only=False)
        if hit.any():
            counted.append((int(hit.sum()), int(row[hit].min()), i, rule.reason))
    for j, name in enumerate(found):
        values = table.column(name).to_pandas().dropna()
        for reason, at in values.groupby(values).groups.items():
            counted.append((len(at), int(row[at].min()), j - len(found), reason))
    reasons = {reason: n for n, _, _, reason in sorted(counted, key=lambda f: (-f[0], f[1], f[2]))}
    return to_contract_frame(table.drop_columns(extra)), reasons


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
