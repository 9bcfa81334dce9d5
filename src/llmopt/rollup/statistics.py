"""Per-partition sufficient statistics by task, model and experiment variant: what experiments, the post-change
monitor and the budget forecast sum over their windows, on every source.

Each partition rollup holds one row per (service, task_type, model, experiment_id, variant) of its valid rows:
requests, failures, and for quality, cost, latency and time to first token the count, sum and sum of squares
(a mean and its variance are sums of these: n, Σx, Σx²). The same SQL runs in both engines: over the engine's
checked rows, or over the pandas path's valid frame registered in DuckDB.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from llmopt.engine.rules import quote

STATISTICS_KEYS = ["service", "task_type", "model", "experiment_id", "variant"]
# metric name (as experiments and the monitor know it) → contract column (`__cost`: logged cost, else list price)
METRICS = {"quality": "quality_score", "cost_per_request": "__cost", "latency": "latency_ms", "ttft": "ttft_ms"}
COUNT_COLUMNS = ["requests", "failed"] + [f"{m}_n" for m in METRICS]


def statistics_aggregates(columns: set[str]) -> str:
    """The select list of the statistics GROUP BY (keys, then aggregates); a key or metric column not in
    `columns` counts as null."""
    keys = ", ".join(quote(k) if k in columns else f"NULL::VARCHAR AS {quote(k)}" for k in STATISTICS_KEYS)
    moments = []
    for name, column in METRICS.items():
        value = f"{quote(column)}::DOUBLE" if column in columns else "NULL::DOUBLE"
        moments += [f"count({value}) AS {name}_n", f"coalesce(sum({value}), 0) AS {name}_sum",
                    f"coalesce(sum({value} * {value}), 0) AS {name}_sum_squares"]
    return (f"{keys}, count(*) AS requests, count(*) FILTER (WHERE status IS DISTINCT FROM 'ok') AS failed, "
            f"{', '.join(moments)}")


def statistics_sql(relation: str, columns: set[str]) -> str:
    """The GROUP BY over `relation` (valid rows), in the order the rows are stored."""
    return f"SELECT {statistics_aggregates(columns)} FROM {relation} GROUP BY ALL ORDER BY ALL"


STATISTICS_COLUMNS = STATISTICS_KEYS + COUNT_COLUMNS[:2] + [f"{m}_{part}" for m in METRICS
                                                            for part in ("n", "sum", "sum_squares")]


def statistics_of(con: duckdb.DuckDBPyConnection, relation: str, columns: set[str]) -> pd.DataFrame:
    """The statistics rows of `relation` on `con` (typed as they are stored)."""
    frame = con.execute(statistics_sql(relation, columns)).fetch_df()
    return typed(frame)


def statistics_of_frame(valid: pd.DataFrame, cost: pd.Series) -> pd.DataFrame:
    """The statistics rows of the pandas path's valid rows (`cost`: `PriceMap.fill_cost` of them)."""
    if valid.empty:
        return empty_statistics()
    rows = valid.assign(__cost=cost.astype(float))
    with duckdb.connect() as con:
        con.register("valid_rows", rows)
        return statistics_of(con, "valid_rows", set(rows.columns))


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    keys = {k: "object" for k in STATISTICS_KEYS}
    counts = {c: "int64" for c in COUNT_COLUMNS}
    sums = {c: "float64" for c in frame.columns if c not in keys and c not in counts}
    casts = {c: t for c, t in {**keys, **counts, **sums}.items() if frame[c].dtype != t}
    return frame.astype(casts) if casts else frame      # astype costs ~0.5 ms a column, cast or not


def empty_statistics() -> pd.DataFrame:
    columns = {**{k: pd.Series(dtype=object) for k in STATISTICS_KEYS},
               **{c: pd.Series(dtype="int64") for c in ["requests", "failed"]}}
    for name in METRICS:
        columns |= {f"{name}_n": pd.Series(dtype="int64"), f"{name}_sum": pd.Series(dtype=float),
                    f"{name}_sum_squares": pd.Series(dtype=float)}
    return pd.DataFrame(columns)
