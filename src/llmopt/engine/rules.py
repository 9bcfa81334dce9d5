"""The suite's row rules compiled once into DuckDB SQL: one boolean per expectation, true where a row breaks it.

The GX suite in data_contracts/ stays the one definition of the contract. Each `meta.level: row` expectation
becomes a `RowRule` (its reason, and a SQL condition on the typed columns) with GX's own semantics on pandas:
nulls pass every rule but `not_null` (NaN is null), `between` bounds are inclusive unless `strict_*`, a regex is
searched (not anchored) by Python's `re` on each distinct value, `unique` flags every row of a duplicated value,
a pair rule skips a row missing either value. `tests/unit/engine/test_rules_match_gx.py` holds each type equal to GX.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Any

import pyarrow as pa



@dataclass(frozen=True)
class RowRule:
    """One row-level expectation: `condition` is true on a row that breaks it (the row is then quarantined)."""

    expectation: dict[str, Any]
    condition: str
    reason: str

    @property
    def columns(self) -> list[str]:
        return [self.expectation["kwargs"][k] for k in ("column", "column_A", "column_B")
                if k in self.expectation["kwargs"]]


def quote(name: str) -> str:
    """A column name as a DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: Any) -> str:
    """A Python value as a DuckDB literal."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return repr(float(value)) if isinstance(value, float) else str(int(value))


def regex_misses_table(exp: dict[str, Any]) -> str:
    """The table `register_regex_misses` fills with the values of the rule's column its regex does not match."""
    return f"__regex_misses_{exp['kwargs']['column']}_{zlib.crc32(exp['kwargs']['regex'].encode())}"


def register_regex_misses(con, rules: list[RowRule], source: str) -> list[RowRule]:
    """For each regex rule, the distinct values of its column in `source` that Python's `re.search` does not
    match (GX's own test on pandas), as a table: the regex runs once per distinct value, in exactly GX's dialect
    (RE2's Unicode classes are ~300× slower per row, and its `\\w` is ASCII). Returns `rules` with a regex rule
    no value breaks as `FALSE` (no lookup per row). The columns' distinct values come from one scan."""
    regex = [rule for rule in rules if rule.expectation["type"] == "expect_column_values_to_match_regex"]
    columns = list(dict.fromkeys(rule.expectation["kwargs"]["column"] for rule in regex))
    distinct = con.execute("SELECT " + ", ".join(f"list(DISTINCT {quote(c)}) FILTER (WHERE {quote(c)} IS NOT NULL)"
                                                 for c in columns) + f" FROM {source}").fetchall()[0] if columns else ()
    values_of = dict(zip(columns, distinct))
    out = []
    for rule in rules:
        if rule.expectation["type"] != "expect_column_values_to_match_regex":
            out.append(rule)
            continue
        column, pattern = rule.expectation["kwargs"]["column"], re.compile(rule.expectation["kwargs"]["regex"])
        misses = pa.table({"v": pa.array([v for v in values_of[column] or [] if not pattern.search(str(v))],
                                         pa.string())})
        con.register(regex_misses_table(rule.expectation), misses)
        out.append(rule if misses.num_rows else RowRule(rule.expectation, "FALSE", rule.reason))
    return out


def _between(col: str, kw: dict[str, Any]) -> str:
    parts = []
    if kw.get("min_value") is not None:
        parts.append(f"{col} {'<=' if kw.get('strict_min') else '<'} {literal(kw['min_value'])}")
    if kw.get("max_value") is not None:
        parts.append(f"{col} {'>=' if kw.get('strict_max') else '>'} {literal(kw['max_value'])}")
    return f"({' OR '.join(parts)})"


def _lengths_between(col: str, kw: dict[str, Any]) -> str:
    return _between(f"length({col})", kw)


def _condition(exp: dict[str, Any]) -> str:
    kind, kw = exp["type"], exp["kwargs"]
    col = quote(kw["column"]) if "column" in kw else None
    if kind == "expect_column_values_to_not_be_null":
        return f"{col} IS NULL"
    if kind == "expect_column_values_to_be_unique":
        return f"{col} IS NOT NULL AND __dup_{kw['column']}"
    if kind == "expect_column_values_to_match_regex":
        return f"{col} IN (SELECT v FROM {quote(regex_misses_table(exp))})"
    if kind == "expect_column_value_lengths_to_be_between":
        return _lengths_between(col, kw)
    if kind == "expect_column_values_to_be_between":
        return _between(col, kw)
    if kind == "expect_column_values_to_be_in_set":
        return f"{col} NOT IN ({', '.join(literal(v) for v in kw['value_set'])})"
    if kind == "expect_column_pair_values_a_to_be_greater_than_b":
        if kw.get("ignore_row_if") != "either_value_is_missing":
            raise ValueError(f"{kind}: only ignore_row_if 'either_value_is_missing' is compiled")
        a, b = quote(kw["column_A"]), quote(kw["column_B"])
        return f"{a} {'<' if kw.get('or_equal') else '<='} {b}"
    raise ValueError(f"expectation type {kind} has no SQL form in llmopt.engine.rules (add one, with its test)")


def row_rules(suite: dict[str, Any], columns: set[str]) -> list[RowRule]:
    """The suite's row rules on `columns` (a rule on a column the rows lack is not checked, as on pandas), in the
    suite's order; every rule gives false, not null, on a null value (`coalesce`)."""
    rules = []
    for exp in suite["expectations"]:
        if exp["meta"].get("level") != "row":
            continue
        rule = RowRule(exp, "", exp["meta"].get("reason", exp["type"]))
        if set(rule.columns) <= columns:
            rules.append(RowRule(exp, f"coalesce({_condition(exp)}, FALSE)", rule.reason))
    return rules


def unique_columns(rules: list[RowRule]) -> list[str]:
    """Columns a uniqueness rule needs a duplicate flag for (`__dup_<column>`, computed by a window count)."""
    return [r.columns[0] for r in rules if r.expectation["type"] == "expect_column_values_to_be_unique"]
