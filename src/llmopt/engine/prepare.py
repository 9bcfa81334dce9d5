"""The partition's rows typed, checked and keyed as DuckDB views over its Arrow table (`FLAGGED_VIEW`).

Per row: the contract's typed columns (text `ts` parsed, NaN as null, provider derived from the model as
`frame_types.derive_provider` does), the reasons found before the rules (`ts` outside the partition, a source's
own `mapping_reason`), one flag per row rule (`rules.row_rules`, on rows without such a reason, as GX sees only
those), the priced-model check, `reason` (all of a row's reasons, in the contract's order, or null when valid),
the list-price cost and the row's sample key. Nothing is materialized: `engine.reduce.group_rows` reads the view
once; only bad rows are read from it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa

from llmopt.engine.rules import RowRule, literal, quote, register_regex_misses, row_rules, unique_columns
from llmopt.extract.frame_types import COLUMN_KINDS
from llmopt.extract.schema import ABSENT_MEANS_NULL
from llmopt.prices import PriceMap
from llmopt.validate.contract import MAPPING_REASON

FLAGGED_VIEW = "flagged_rows"     # every typed column, rule flag, reason, cost and sample key of a row
TYPED_VIEW = "typed_rows"
PRICES_TABLE = "model_prices"
OUTSIDE = "ts is outside the hour it is stored under (store ts in UTC)"
# u ∈ [0, 1) from DuckDB's 64-bit hash of the row's id: the same in every run and worker (not promised across
# DuckDB releases: the rollup format names the release, so an upgrade recomputes rollups rather than mix keys)
SAMPLE_KEY_SQL = "(hash(CAST({id} AS VARCHAR)) >> 11)::DOUBLE / 9007199254740992.0"
_NULL_OF = {"string": "NULL::VARCHAR", "timestamp": "NULL::TIMESTAMPTZ", "integer": "NULL::DOUBLE",
            "number": "NULL::DOUBLE"}
_ARROW_NULL_OF = {"string": pa.string(), "timestamp": pa.timestamp("us", "UTC"), "integer": pa.float64(),
                  "number": pa.float64()}


@dataclass(frozen=True)
class PreparedRows:
    """What the later queries over `FLAGGED_VIEW` need to know of it."""

    rules: list[RowRule]
    columns: set[str]                  # the columns the rows have (absent optional ones as null)
    as_read_sql: str                   # the columns as read, of `<bad rows> b JOIN source_rows s` (the quarantine)
    as_read_schema: pa.Schema          # their types (an empty quarantine is made without a query)
    typed_columns: str                 # the typed columns' select list over `<relation> s` joined by `typed_join`
    typed_join: str
    typed_names: list[str]             # the typed columns (for the sample)
    pre_reasons: list[str]             # SQL of each reason found before the rules

    def typed_select(self, relation: str) -> str:
        """The SELECT of the typed columns over `relation` (rows shaped as the source's)."""
        return f"SELECT {self.typed_columns} FROM {relation} s {self.typed_join}"


def price_table(prices: PriceMap) -> pa.Table:
    """The price map as a table to join on `model` (provider null where the map says `unknown`)."""
    entries = prices.entries()
    return pa.table({
        "name": pa.array([e.model for e in entries], pa.string()),
        "map_provider": pa.array([None if e.provider == "unknown" else e.provider for e in entries], pa.string()),
        "input_usd": pa.array([e.input_usd_per_token for e in entries], pa.float64()),
        "cached_usd": pa.array([e.cached_input_usd_per_token for e in entries], pa.float64()),
        "output_usd": pa.array([e.output_usd_per_token for e in entries], pa.float64())})


def _typed(name: str, arrow_type: pa.DataType, kind: str | None) -> str | None:
    """The SQL of a column in its contract type, or None when its type is not the contract's (the pandas path
    then names the breach)."""
    col = f"s.{quote(name)}"
    if kind is None:
        return col
    if pa.types.is_null(arrow_type):
        return _NULL_OF[kind]
    if pa.types.is_dictionary(arrow_type):      # low-cardinality text as the lake reads it: DuckDB reads the values
        arrow_type = arrow_type.value_type
    text = pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
    if kind == "string":
        return col if text else None
    if kind == "timestamp":
        return col if pa.types.is_timestamp(arrow_type) else f"TRY_CAST({col} AS TIMESTAMPTZ)" if text else None
    if pa.types.is_integer(arrow_type):
        return col
    if pa.types.is_floating(arrow_type):
        return f"nullif(CAST({col} AS DOUBLE), 'NaN'::DOUBLE)"      # NaN is null, as pandas reads it
    return None


def _may_repeat(con, column_sql: str) -> bool:
    """Whether any value of the column may occur twice among all rows: two equal values hash equal, so distinct
    64-bit hashes prove there is none (sorting the hashes in numpy is ~3× faster than grouping the text)."""
    hashes = con.execute(f"SELECT hash({column_sql}) AS h FROM source_rows s WHERE {column_sql} IS NOT NULL"
                         ).fetchnumpy()["h"]
    hashes = np.sort(np.asarray(hashes))
    return bool((hashes[1:] == hashes[:-1]).any())


def prepare_rows(con, schema: pa.Schema, suite: dict, required: tuple[str, ...],
                 window: tuple[datetime, datetime]) -> PreparedRows | None:
    """Create `FLAGGED_VIEW` over the registered `source_rows`; None when a column's type needs the pandas path."""
    names = [n for n in schema.names if n != "__row"]
    if any(c not in names for c in required if c not in ABSENT_MEANS_NULL):
        return None
    typed = {}
    for name in names:
        sql = _typed(name, schema.field(name).type, COLUMN_KINDS.get(name))
        if sql is None:
            return None
        typed[name] = sql
    for name in required:                # absent optional columns: null in every row
        typed.setdefault(name, _NULL_OF[COLUMN_KINDS[name]])
    model = typed.get("model", "NULL::VARCHAR")
    derived = f"CASE WHEN contains({model}, '/') THEN split_part({model}, '/', 1) END"
    typed["provider"] = f"coalesce({typed.get('provider', 'NULL::VARCHAR')}, p.map_provider, {derived})"
    fractional = [sql for c, sql in typed.items() if COLUMN_KINDS.get(c) == "integer" and sql.startswith("nullif")]
    if fractional:                       # integers in a float column must be whole, else the pandas path names it
        whole = " AND ".join(f"coalesce(bool_and({sql} = floor({sql})), TRUE)" for sql in fractional)
        if not con.execute(f"SELECT {whole} FROM source_rows s").fetchall()[0][0]:
            return None
    columns = set(typed)
    rules = register_regex_misses(con, row_rules(suite, columns), "source_rows")
    start, end = (literal(t.isoformat()) + "::TIMESTAMPTZ" for t in window)
    # µs (floor) against whole-µs bounds orders as ns does
    pre = [f"CASE WHEN ts IS NOT NULL AND (ts::TIMESTAMPTZ < {start} OR ts::TIMESTAMPTZ >= {end}) "
           f"THEN {literal(OUTSIDE)} END"]
    if MAPPING_REASON in columns:
        pre.append(quote(MAPPING_REASON))
    select = ", ".join(["s.__row"] + [f"{sql} AS {quote(n)}" for n, sql in typed.items()]
                       + ["p.name IS NOT NULL AS __priced", "p.input_usd", "p.cached_usd", "p.output_usd"])
    join = f"LEFT JOIN {PRICES_TABLE} p ON {model} = p.name"
    con.execute(f"""CREATE TEMP VIEW {TYPED_VIEW} AS
        SELECT *, nullif(concat_ws('; ', {', '.join(pre)}), '') AS __pre
        FROM (SELECT {select} FROM source_rows s {join})""")
    dups = []
    for c in unique_columns(rules):      # the values more than one checked row has (GX checks rows without __pre)
        table, any_dup = quote("__dups_" + c), False
        # a value repeated among the checked rows is repeated among all rows: most partitions stop at this cheap test
        if _may_repeat(con, typed[c]):
            con.execute(f"CREATE TEMP TABLE {table} AS SELECT {quote(c)} AS v FROM {TYPED_VIEW} "
                        f"WHERE __pre IS NULL AND {quote(c)} IS NOT NULL GROUP BY ALL HAVING count(*) > 1")
            any_dup = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        dups.append(f"{quote(c) + ' IN (SELECT v FROM ' + table + ')' if any_dup else 'FALSE'} AS {quote('__dup_' + c)}")
    flags = ", ".join(f"(__pre IS NULL AND {r.condition}) AS __r{i}" for i, r in enumerate(rules)) or "NULL AS __r"
    # whether a row breaks any rule, as one OR of the conditions: the per-rule flags (`_bad_rows` reads them) and
    # the reasons are evaluated for the bad rows alone (~1/3 of the scan, all 28 flags per row)
    any_flag = f"__pre IS NULL AND ({' OR '.join(f'({r.condition})' for r in rules)})" if rules else "FALSE"
    found = ", ".join(f"CASE WHEN {r.condition} THEN {literal(r.reason)} END" for r in rules) or "NULL"
    cached = "coalesce(cached_tokens, 0)"
    price_reason = ("CASE WHEN __pre IS NULL AND NOT __any AND cost_usd IS NULL AND model IS NOT NULL "
                    "AND NOT __priced THEN 'no price for model ' || model || ' and cost_usd is null' END")
    key_id = "coalesce(prompt_id, request_id)" if "prompt_id" in columns else "request_id"
    # the reasons are joined only on rows that have one (CASE evaluates a branch on its own rows only)
    con.execute(f"""
        CREATE TEMP VIEW {FLAGGED_VIEW} AS
        WITH flagged AS (SELECT *, {flags} FROM (SELECT *, {', '.join(dups) or 'NULL AS __no_dups'} FROM {TYPED_VIEW})),
        priced AS (SELECT *, {price_reason} AS price_reason FROM (SELECT *, coalesce({any_flag}, FALSE) AS __any
                                                                  FROM flagged))
        SELECT *, CASE WHEN __pre IS NOT NULL THEN __pre WHEN __any THEN concat_ws('; ', {found})
                       ELSE price_reason END AS reason,
               coalesce(cost_usd, (prompt_tokens - {cached}) * input_usd + {cached} * cached_usd
                        + completion_tokens * output_usd) AS __cost,
               {SAMPLE_KEY_SQL.format(id=key_id)} AS __key
        FROM priced""")
    # the quarantine keeps each row as read (the source's own values, with the derived provider; an absent column null)
    as_read = ", ".join("b.provider AS provider" if n == "provider" else f"s.{quote(n)}" if n in names
                        else f"{typed[n]} AS {quote(n)}" for n in typed)
    as_read_schema = pa.schema([(n, pa.string() if n == "provider" else schema.field(n).type if n in names
                                 else _ARROW_NULL_OF[COLUMN_KINDS[n]]) for n in typed])
    return PreparedRows(rules, columns, as_read, as_read_schema, select, join,
                        [n for n in typed if n != MAPPING_REASON], pre)
