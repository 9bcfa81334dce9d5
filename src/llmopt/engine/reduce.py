"""The rollup of a partition's valid rows in DuckDB: per-cell sums (`rollup.partition.SUM_COLUMNS`), REQ latency
sketches from each cell's latencies (one sorted fetch, split by cell: no per-row Python), and the bottom-k sample
with its threshold τ (the (k+1)-th smallest key, by a top-k in the engine). The same numbers as
`rollup.partition.reduce_partition` on the same rows (a test holds them equal).
"""

from __future__ import annotations

import datasketches
import numpy as np
import pandas as pd

from llmopt.engine.prepare import ROWS_TABLE, PreparedRows
from llmopt.engine.rules import quote
from llmopt.extract.frame_types import to_contract_frame
from llmopt.extract.schema import SHADOW_VARIANT
from llmopt.rollup.partition import CELL_KEYS, SAMPLE_KEY, SKETCH_K, SUM_COLUMNS

VALID = f"{ROWS_TABLE} WHERE reason IS NULL"
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


def cells_of(con, prepared: PreparedRows) -> pd.DataFrame:
    """One row per (service, task_type, model) of the valid rows, sorted, with its sums and latency sketch."""
    sums = ", ".join(f"{_SUMS[c]} AS {quote(c)}" for c in SUM_COLUMNS)
    cells = con.execute(f"SELECT {KEYS}, arg_min(provider, __row) AS provider, {sums} FROM {VALID} "
                        f"GROUP BY ALL ORDER BY {KEYS}").fetch_df()
    cells = cells.astype({c: "int64" if c in COUNTS else "float64" for c in SUM_COLUMNS})
    cells = cells.astype({c: "str" for c in CELL_KEYS + ["provider"]})
    cells = cells[CELL_KEYS + SUM_COLUMNS + ["provider"]]                 # as reduce_partition orders them
    # each successful latency with its cell's number (a hash join on the few cells), grouped in numpy
    con.register("cell_numbers", cells[CELL_KEYS].assign(__cell=np.arange(len(cells))))
    fetched = con.sql(f"SELECT c.__cell AS cell, r.latency_ms::FLOAT AS v FROM {ROWS_TABLE} r "
                      f"JOIN cell_numbers c USING ({KEYS}) WHERE r.reason IS NULL AND r.status = 'ok' "
                      "AND r.latency_ms IS NOT NULL").fetchnumpy()
    order = np.argsort(np.asarray(fetched["cell"]), kind="stable")
    cell_of, values = np.asarray(fetched["cell"])[order], np.asarray(fetched["v"], dtype=np.float32)[order]
    bounds = np.searchsorted(cell_of, np.arange(len(cells) + 1))
    sketches = {}
    for i, key in enumerate(cells[CELL_KEYS].itertuples(index=False)):
        sketch = datasketches.req_floats_sketch(SKETCH_K, True)
        if bounds[i + 1] > bounds[i]:
            sketch.update(values[bounds[i]:bounds[i + 1]])
        sketches[tuple(key)] = sketch.serialize()
    cells["latency_sketch"] = [sketches[tuple(k)] for k in cells[CELL_KEYS].itertuples(index=False)]
    return cells


def sample_of(con, prepared: PreparedRows, valid_rows: int, sample_rows: int) -> tuple[pd.DataFrame, float]:
    """The bottom-k sample of the valid rows (typed as the pandas path types them) and its threshold τ."""
    threshold = 1.0
    if valid_rows > sample_rows:
        threshold = float(con.execute(f"SELECT __key FROM {VALID} ORDER BY __key LIMIT 1 OFFSET {sample_rows}")
                          .fetchall()[0][0])
    columns = ", ".join(quote(c) for c in prepared.typed_names)
    table = con.sql(f"SELECT {columns}, __key AS {SAMPLE_KEY} FROM {VALID} AND __key < {threshold!r} "
                    "ORDER BY __row").to_arrow_table()
    return to_contract_frame(table), threshold
