"""Request rows as read, in the contract's types: one normalization at the boundary, whoever wrote the files.

Writers type the same column differently: pandas writes `string` and `timestamp[ns, UTC]` (and, with its nullable
dtypes, `string` read back with pd.NA, categoricals, `Int64`); Spark and DuckDB write dictionary-encoded strings and
naive `timestamp[us]`; others `large_string`, `int32`, `float32`; a column null in every row is Arrow's `null` type.
Downstream code sees one set of pandas dtypes, by the contract's kind of the column:

- string: `string`, `large_string`, `string_view`, dictionaries of them, `null`; pandas `string` (pd.NA) and
  `category` → `str` with NaN for a missing value, as the SQL source reads text.
- timestamp: `timestamp[s|ms|us|ns]` with a time zone, or naive, which is taken as UTC → `datetime64[ns, UTC]`.
- integer: any integer type, or floats with whole values → `int64`; `float64` when a value is missing (NaN)
  or not whole (the contract then names the column).
- number: any integer, float or decimal type → `float64`.

Other types (text in a number column, numbers in a text column) are left as they are: the contract reports them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import DateTime, Float, Integer, String

from llmopt.extract.schema import ABSENT_MEANS_NULL, OPTIONAL_COLUMNS, REQUEST_COLUMNS


def _kind(sql_type) -> str:
    sql_class = sql_type if isinstance(sql_type, type) else type(sql_type)
    return {String: "string", DateTime: "timestamp", Integer: "integer", Float: "number"}[sql_class]


# The contract's kind of every column (the same as the suite's meta.column_types; a test holds them equal).
COLUMN_KINDS: dict[str, str] = {c: _kind(t) for c, t in {**REQUEST_COLUMNS, **OPTIONAL_COLUMNS}.items()}
TIMESTAMP_TYPE = pa.timestamp("ns", "UTC")
_EMPTY = {"string": pa.string(), "timestamp": TIMESTAMP_TYPE, "integer": pa.float64(), "number": pa.float64()}


def _is_text(arrow_type: pa.DataType) -> bool:
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) or \
        getattr(pa.types, "is_string_view", lambda _: False)(arrow_type)


def _is_whole(column: pa.ChunkedArray) -> bool:
    valid = pc.drop_null(column)
    return pc.all(pc.equal(valid, pc.floor(valid))).as_py() is not False


TEXT_DICTIONARY = pa.dictionary(pa.int32(), pa.string())


def conform_column(column: pa.ChunkedArray, kind: str | None, keep_dictionary: bool = False) -> pa.ChunkedArray:
    """One column in the Arrow type that reads into the contract's pandas dtype for `kind` (None: not a contract
    column; only its text is made plain). `keep_dictionary`: dictionary-encoded text stays encoded (as
    `TEXT_DICTIONARY`), for the engine, which reads the values."""
    arrow_type = column.type
    if keep_dictionary and pa.types.is_dictionary(arrow_type) and _is_text(arrow_type.value_type) \
            and kind in ("string", None):
        return column if arrow_type == TEXT_DICTIONARY else column.cast(TEXT_DICTIONARY)
    if pa.types.is_dictionary(arrow_type):      # Spark, DuckDB, pandas categoricals: the values, not the codes
        column = column.cast(arrow_type.value_type)
        arrow_type = column.type
    if pa.types.is_null(arrow_type):            # null in every row: no type was written
        return column.cast(_EMPTY.get(kind, pa.string()))
    if _is_text(arrow_type):
        return column.cast(pa.string())
    if kind == "timestamp" and pa.types.is_timestamp(arrow_type):
        if arrow_type.tz is None:               # naive timestamps are taken as UTC (the contract stores UTC)
            column = pc.assume_timezone(column, "UTC")
        return column.cast(TIMESTAMP_TYPE)
    numeric = pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type)
    if kind == "number" and numeric:
        return column.cast(pa.float64())
    if kind == "integer" and numeric:          # int64 holds nulls in Arrow; pandas reads those as float64 (NaN)
        if pa.types.is_integer(arrow_type) or _is_whole(column):
            try:
                return column.cast(pa.int64())
            except (pa.ArrowInvalid, OverflowError):     # beyond int64 (or infinite): left to the contract
                pass
        return column.cast(pa.float64())
    return column


def conform_table(table: pa.Table, keep_dictionaries: bool = False) -> pa.Table:
    """`table` with every column in the Arrow type of its contract kind, and without pandas metadata (which would
    bring back pandas' nullable dtypes and pd.NA); `keep_dictionaries`: see `conform_column`."""
    columns = [conform_column(table.column(name), COLUMN_KINDS.get(name), keep_dictionaries)
               for name in table.column_names]
    return pa.table(columns, names=table.column_names)


def untyped_nulls(table: pa.Table) -> pa.Table:
    """A column null in every row as Arrow's `null` type: a driver types it by guess (ADBC reads SQLite's empty
    `variant` as int64), and the contract takes an all-null column as any type (and joining tables, the other's)."""
    for i, name in enumerate(table.column_names):
        column = table.column(i)
        if table.num_rows and column.null_count == table.num_rows and not pa.types.is_null(column.type):
            table = table.set_column(i, name, pa.nulls(table.num_rows))
    return table


def null_column(kind: str | None, rows: int) -> pa.Array:
    """A column absent from a file: null in each of its `rows`, typed as its contract kind."""
    return pa.nulls(rows, _EMPTY.get(kind, pa.string()))


def repeated_text(value: str, rows: int) -> pa.Array:
    """`value` in each of `rows` rows, dictionary-encoded: one copy of the text and a code per row. A Python list
    of 400k strings took ~0.1 s a partition, and the plain column ~15 ms and ~25 MB; DuckDB reads the dictionary
    as text, and `conform_column` makes it plain where pandas reads it."""
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, np.int32)), pa.array([value], pa.string()))


def to_contract_frame(table: pa.Table) -> pd.DataFrame:
    """The pandas frame of an Arrow table as read from a lake, in the contract's dtypes (see the module table)."""
    return conform_table(table).to_pandas(ignore_metadata=True)


def conform_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A pandas frame from any source with pandas' nullable, categorical and Arrow-backed dtypes replaced by the
    plain ones of the module table (through the same Arrow mapping); `str`, numpy and `datetime64[ns, UTC]` columns
    are not touched (nor copied)."""
    casts = {}
    for name, dtype in frame.dtypes.items():
        plain = isinstance(dtype, pd.StringDtype) and dtype.na_value is not pd.NA
        if plain or isinstance(dtype, pd.DatetimeTZDtype) or not isinstance(dtype, pd.api.extensions.ExtensionDtype):
            continue
        column = conform_column(pa.chunked_array([pa.array(frame[name])]), COLUMN_KINDS.get(name))
        casts[name] = column.to_pandas().set_axis(frame.index)
    return frame.assign(**casts) if casts else frame


def with_absent_as_null(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """`frame` with each of `columns` it lacks that may be absent (`ABSENT_MEANS_NULL`) added, null in every row
    (text columns as `str` with NaN, number columns as float NaN)."""
    absent = [c for c in columns if c in ABSENT_MEANS_NULL and c not in frame.columns]
    if not absent:
        return frame
    def null(c: str) -> pd.Series:
        text = COLUMN_KINDS.get(c) == "string"
        return pd.Series(pd.NA if text else np.nan, index=frame.index, dtype="str" if text else float)
    return frame.assign(**{c: null(c) for c in absent})


def derive_provider(frame: pd.DataFrame, provider_of) -> pd.DataFrame:
    """`frame` with a null or absent `provider` filled from its model: `provider_of(model)` (the price map's
    `litellm_provider`), else the prefix of a `provider/model` name. Left null when neither knows."""
    if "model" not in frame.columns:
        return frame
    current = frame["provider"] if "provider" in frame.columns else pd.Series(np.nan, index=frame.index, dtype="str")
    missing = current.isna()
    if not missing.any():
        return frame
    models = frame.loc[missing, "model"].dropna().unique()
    known = {m: provider_of(m) or (m.split("/", 1)[0] if "/" in m else None) for m in models}
    # `map` of a null model gives None (an object column): kept text, as the contract's type rule reads it
    return frame.assign(provider=current.where(~missing, frame["model"].map(known)).astype("str"))
