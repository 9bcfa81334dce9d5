"""The rollup of a partition in one scan of its flagged rows (DuckDB): per (statistics key, valid or not) the
statistics' aggregates, the cells' sums (`rollup.partition.SUM_COLUMNS`), the successful latencies (for the cells'
REQ sketches: no per-row Python) and the rows whose sample key is under a bound τ₀ set from the partition's size,
so the bottom-k sample and its threshold τ (the (k+1)-th smallest key) are cut from those few in numpy. The same
numbers as `rollup.partition.reduce_partition` on the same rows (a test holds them equal).

The rules are evaluated once per row: every later query reads the few grouped rows, and only a partition with
bad rows (their reasons), or too few keys under τ₀ (bad rows thinned it), reads the flagged rows again.
"""

from __future__ import annotations

import math

import datasketches
import numpy as np
import pandas as pd
import pyarrow as pa

from llmopt.engine.prepare import FLAGGED_VIEW, PreparedRows
from llmopt.engine.rules import quote
from llmopt.extract.frame_types import to_contract_frame
from llmopt.extract.schema import SHADOW_VARIANT
from llmopt.rollup.partition import CELL_KEYS, NOT_IN_SAMPLE, SAMPLE_KEY, SKETCH_K, SUM_COLUMNS
from llmopt.rollup.statistics import STATISTICS_COLUMNS, statistics_aggregates, typed as typed_statistics

GROUPS_TABLE = "row_groups"
VALID_GROUPS = f"{GROUPS_TABLE} WHERE __valid"
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
BAD_ROW_ALLOWANCE = 0.05        # τ₀ still holds k + 1 valid keys when up to this share of the rows is bad


def first_key_bound(rows: int, sample_rows: int) -> float:
    """τ₀: a bound the (k+1)-th smallest of the valid rows' keys falls under but for a ~6σ binomial deviation or
    more than `BAD_ROW_ALLOWANCE` bad rows (keys are uniform on [0, 1); ≥ 1 keeps every row)."""
    wanted = sample_rows + 1
    if rows <= wanted:
        return 2.0
    return min(2.0, (wanted + 6 * math.sqrt(wanted) + 10) / ((1 - BAD_ROW_ALLOWANCE) * rows))


def group_rows(con, prepared: PreparedRows, key_bound: float) -> tuple[int, int]:
    """The one scan of the flagged rows into `GROUPS_TABLE`, grouped by the statistics' keys and `__valid`; returns
    (rows, bad rows). Per group: the statistics' aggregates (`rollup.statistics`), the cells' sums (`__c_<name>`),
    the first row and its provider, the successful latencies, and the rows (with keys) whose key is < `key_bound`."""
    sums = ", ".join(f"{_SUMS[c]} AS {quote('__c_' + c)}" for c in SUM_COLUMNS)
    under = f"FILTER (WHERE __key < {key_bound!r})"
    con.execute(f"""CREATE TEMP TABLE {GROUPS_TABLE} AS SELECT reason IS NULL AS __valid,
        {statistics_aggregates({*prepared.columns, '__cost'})}, {sums}, min(__row) AS __first,
        arg_min(provider, __row) AS __provider,
        list(latency_ms::FLOAT) FILTER (WHERE status = 'ok' AND latency_ms IS NOT NULL) AS __latencies,
        list(__row) {under} AS __rows, list(__key) {under} AS __keys
        FROM {FLAGGED_VIEW} GROUP BY ALL""")
    rows, valid = con.execute(f"SELECT coalesce(sum(requests), 0), coalesce(sum(requests) FILTER (WHERE __valid), 0) "
                              f"FROM {GROUPS_TABLE}").fetchall()[0]
    return int(rows), int(rows - valid)


def statistics_from_groups(con) -> pd.DataFrame:
    """The partition's statistics rows (`rollup.statistics`), as `statistics_of` gives them."""
    columns = ", ".join(quote(c) for c in STATISTICS_COLUMNS)
    return typed_statistics(con.execute(f"SELECT {columns} FROM {VALID_GROUPS} ORDER BY ALL").fetch_df())


def cells_of(con) -> pd.DataFrame:
    """One row per (service, task_type, model) of the valid rows, sorted, with its sums and latency sketch
    (after `group_rows`)."""
    sums = ", ".join(f"sum({quote('__c_' + c)})::{'BIGINT' if c in COUNTS else 'DOUBLE'} AS {quote(c)}"
                     for c in SUM_COLUMNS)
    table = con.sql(f"SELECT {KEYS}, arg_min(__provider, __first) AS provider, {sums}, "
                    f"flatten(list(__latencies)) AS __latencies FROM {VALID_GROUPS} "
                    f"GROUP BY ALL ORDER BY {KEYS}").to_arrow_table()
    latencies = table.column("__latencies").combine_chunks()
    # the few cells copied out of DuckDB's result: its columns share buffers with the latencies (a partition's
    # every successful latency), which a kept cell would pin in the pool, ~2.6 MB a partition for ~70 kB of cells
    sums = table.drop_columns(["__latencies"])
    cells = sums.take(np.arange(sums.num_rows)).to_pandas()
    types = {**{c: "int64" if c in COUNTS else "float64" for c in SUM_COLUMNS}, **{c: "str" for c in CELL_KEYS},
             "provider": "str"}
    cells = cells.astype({c: t for c, t in types.items() if cells[c].dtype != t})     # astype costs ~1 ms a column
    cells = cells[CELL_KEYS + SUM_COLUMNS + ["provider"]]                 # as reduce_partition orders them
    offsets = latencies.offsets.to_numpy()
    values = latencies.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    sketches = []
    for i in range(len(cells)):
        sketch = datasketches.req_floats_sketch(SKETCH_K, True)
        if offsets[i + 1] > offsets[i]:
            sketch.update(values[offsets[i]:offsets[i + 1]])
        sketches.append(sketch.serialize())
    cells["latency_sketch"] = sketches
    return cells


def sample_of(con, prepared: PreparedRows, source: pa.Table, valid_rows: int, sample_rows: int,
              key_bound: float) -> tuple[pd.DataFrame, float]:
    """The bottom-k sample of the valid rows (typed as the pandas path types them) and its threshold τ.

    `source`: the registered source rows (with `__row`); the chosen k rows are taken from it and typed alone."""
    found = con.execute(f"SELECT unnest(__rows) AS r, unnest(__keys) AS k FROM {VALID_GROUPS}").fetchnumpy()
    rows, keys = np.asarray(found["r"], dtype=np.int64), np.asarray(found["k"], dtype=np.float64)
    if len(keys) <= min(sample_rows, valid_rows - 1) and key_bound < 1:
        # τ₀ fell short (many bad rows): the k + 1 smallest keys in one top-k over the flagged rows
        smallest = con.execute(f"SELECT __row, __key FROM {FLAGGED_VIEW} WHERE reason IS NULL ORDER BY __key "
                               f"LIMIT {sample_rows + 1}").fetchnumpy()
        rows, keys = np.asarray(smallest["__row"]), np.asarray(smallest["__key"], dtype=np.float64)
    # τ is the (k+1)-th smallest key (1 when there are no more than k rows), the sample every row below it
    threshold = float(np.partition(keys, sample_rows)[sample_rows]) if valid_rows > sample_rows else 1.0
    rows, keys = rows[keys < threshold], keys[keys < threshold]
    order = np.argsort(rows, kind="stable")
    chosen = pa.table({"__row": rows[order], "__key": keys[order]})
    con.register("sample_source", _take_sorted(source, rows[order]))
    con.register("sample_keys", chosen)
    columns = ", ".join(f"t.{quote(c)}" for c in prepared.typed_names if c not in NOT_IN_SAMPLE)
    table = con.sql(f"SELECT {columns}, k.__key AS {SAMPLE_KEY} FROM "
                    f"({prepared.typed_select('sample_source')}) t "
                    "JOIN sample_keys k USING (__row) ORDER BY __row").to_arrow_table()
    return to_contract_frame(table), threshold


def _take_sorted(table: pa.Table, rows: np.ndarray) -> pa.Table:
    """`table.take(rows)` for ascending `rows`, batch by batch: pyarrow's take over a chunked table first joins
    each column's chunks into one (~55 ms of a 417k-row partition for 20k rows; this ~12 ms)."""
    batches, at = [], 0
    for batch in table.to_batches():
        low, high = np.searchsorted(rows, [at, at + batch.num_rows])
        if high > low:
            batches.append(batch.take(pa.array(rows[low:high] - at)))
        at += batch.num_rows
    return pa.Table.from_batches(batches, schema=table.schema)
