"""The rollup of a partition's valid rows in DuckDB: per-cell sums (`rollup.partition.SUM_COLUMNS`), REQ latency
sketches from each cell's latencies (one list per cell in row order: no per-row Python), and the bottom-k sample
with its threshold τ (the (k+1)-th smallest key, by a top-k in the engine). The same numbers as
`rollup.partition.reduce_partition` on the same rows (a test holds them equal).
"""

from __future__ import annotations

import datasketches
import numpy as np
import pandas as pd
import pyarrow as pa

from llmopt.engine.prepare import ROWS_TABLE, PreparedRows
from llmopt.engine.rules import quote
from llmopt.extract.frame_types import to_contract_frame
from llmopt.extract.schema import SHADOW_VARIANT
from llmopt.rollup.partition import CELL_KEYS, SAMPLE_KEY, SKETCH_K, SUM_COLUMNS
from llmopt.rollup.statistics import STATISTICS_COLUMNS, statistics_aggregates, typed as typed_statistics

VALID = f"{ROWS_TABLE} WHERE reason IS NULL"
GROUPS_TABLE = "valid_groups"
COUNTS = {"requests", "production_requests", "errors", "timeouts", "scored"}
_SUMS = {
    "requests": "count(*)",
    "production_requests": f"count(*) FILTER (WHERE variant IS DISTINCT FROM '{SHADOW_VARIANT}')",
    "errors": "count(*) FILTER (WHERE status <> 'ok')",
    "timeouts": "count(*) FILTER (WHERE status = 'timeout')",
    "scored": "count(quality_score) FILTER (WHERE status = 'ok')",
    "quality_sum": "coalesce(sum(quality_score) FILTER (WHERE status = 'ok'), 0)",
    "quality_sum_squares": "coalesce(sum(quality_score * quality_score) FILTER (WHERE status = 'ok'), 0)",
    "cost_usd": "coalesce(sum(__cost), 0)",
    "cost_sum_squares": "coalesce(sum(__cost * __cost), 0)",
    "prompt_tokens": "sum(prompt_tokens)::DOUBLE",
    "completion_tokens": "sum(completion_tokens)::DOUBLE",
}
KEYS = ", ".join(quote(k) for k in CELL_KEYS)


def group_valid_rows(con, prepared: PreparedRows) -> None:
    """One scan of the valid rows into `GROUPS_TABLE`: per (service, task_type, model, experiment_id, variant) the
    statistics' aggregates (`rollup.statistics`), the cells' sums (as `__c_<name>`), the first row and its provider.
    The cells and the statistics are both read from these few rows."""
    sums = ", ".join(f"{_SUMS[c]} AS {quote('__c_' + c)}" for c in SUM_COLUMNS)
    con.execute(f"CREATE TEMP TABLE {GROUPS_TABLE} AS SELECT {statistics_aggregates({*prepared.stored, '__cost'})}, "
                f"{sums}, min(__row) AS __first, arg_min(provider, __row) AS __provider FROM {VALID} GROUP BY ALL")


def statistics_from_groups(con) -> pd.DataFrame:
    """The partition's statistics rows (`rollup.statistics`), as `statistics_of` gives them."""
    columns = ", ".join(quote(c) for c in STATISTICS_COLUMNS)
    return typed_statistics(con.execute(f"SELECT {columns} FROM {GROUPS_TABLE} ORDER BY ALL").fetch_df())


def cells_of(con, prepared: PreparedRows) -> pd.DataFrame:
    """One row per (service, task_type, model) of the valid rows, sorted, with its sums and latency sketch
    (after `group_valid_rows`)."""
    sums = ", ".join(f"sum({quote('__c_' + c)})::{'BIGINT' if c in COUNTS else 'DOUBLE'} AS {quote(c)}"
                     for c in SUM_COLUMNS)
    cells = con.execute(f"SELECT {KEYS}, arg_min(__provider, __first) AS provider, {sums} FROM {GROUPS_TABLE} "
                        f"GROUP BY ALL ORDER BY {KEYS}").fetch_df()
    cells = cells.astype({c: "int64" if c in COUNTS else "float64" for c in SUM_COLUMNS})
    cells = cells.astype({c: "str" for c in CELL_KEYS + ["provider"]})
    cells = cells[CELL_KEYS + SUM_COLUMNS + ["provider"]]                 # as reduce_partition orders them
    # each cell's successful latencies in row order (one list per cell, in the cells' order), sketched per cell
    lists = con.sql(f"SELECT {KEYS}, list(latency_ms::FLOAT ORDER BY __row) AS v FROM {VALID} AND status = 'ok' "
                    f"AND latency_ms IS NOT NULL GROUP BY ALL").to_arrow_table()
    latencies = lists.column("v").combine_chunks()
    offsets = latencies.offsets.to_numpy()
    values = latencies.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    where = {tuple(k): i for i, k in enumerate(zip(*(lists.column(c).to_pylist() for c in CELL_KEYS)))}
    sketches = []
    for key in cells[CELL_KEYS].itertuples(index=False):
        sketch = datasketches.req_floats_sketch(SKETCH_K, True)
        if (i := where.get(tuple(key))) is not None:
            sketch.update(values[offsets[i]:offsets[i + 1]])
        sketches.append(sketch.serialize())
    cells["latency_sketch"] = sketches
    return cells


def sample_of(con, prepared: PreparedRows, source: pa.Table, valid_rows: int,
              sample_rows: int) -> tuple[pd.DataFrame, float]:
    """The bottom-k sample of the valid rows (typed as the pandas path types them) and its threshold τ.

    `source`: the registered source rows (with `__row`); the chosen k rows are taken from it and typed alone."""
    # the k + 1 smallest keys in one top-k: τ is the (k+1)-th (1 when there are no more than k rows), the sample
    # every row below it
    smallest = con.execute(f"SELECT __row, __key FROM {VALID} ORDER BY __key LIMIT {sample_rows + 1}").fetchnumpy()
    rows, keys = np.asarray(smallest["__row"]), np.asarray(smallest["__key"], dtype=np.float64)
    threshold = float(keys[sample_rows]) if valid_rows > sample_rows else 1.0
    rows, keys = rows[keys < threshold], keys[keys < threshold]
    order = np.argsort(rows, kind="stable")
    chosen = pa.table({"__row": rows[order], "__key": keys[order]})
    con.register("sample_source", source.take(chosen.column("__row")))
    con.register("sample_keys", chosen)
    columns = ", ".join(f"t.{quote(c)}" for c in prepared.typed_names)
    table = con.sql(f"SELECT {columns}, k.__key AS {SAMPLE_KEY} FROM "
                    f"({prepared.typed_select('sample_source')}) t "
                    "JOIN sample_keys k USING (__row) ORDER BY __row").to_arrow_table()
    return to_contract_frame(table), threshold
