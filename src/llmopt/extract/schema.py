"""The request log: one row per LLM call, as the data contract in data_contracts/ describes it."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Float, Index, Integer, MetaData, String, Table

# Every column of the contract, with its SQL type.
REQUEST_COLUMNS: dict[str, type] = {
    "request_id": String,
    "ts": DateTime(timezone=True),
    "service": String,
    "task_type": String,
    "provider": String,
    "model": String,
    "prompt_tokens": Integer,
    "completion_tokens": Integer,
    "cached_tokens": Integer,
    "max_tokens": Integer,
    "temperature": Float,
    "latency_ms": Float,
    "ttft_ms": Float,
    "status": String,
    "finish_reason": String,
    "cost_usd": Float,
    "quality_score": Float,
    "experiment_id": String,
    "variant": String,
}

# What the routing strategy reads; the window extract selects only these.
ROUTING_COLUMNS: tuple[str, ...] = (
    "request_id", "ts", "service", "task_type", "provider", "model",
    "prompt_tokens", "completion_tokens", "cached_tokens", "latency_ms",
    "status", "cost_usd", "quality_score", "finish_reason", "variant", "max_tokens",
)
# Rows with this variant are shadow traffic or offline evaluations (the same prompt answered by another
# model): they inform quality and cost but do not count as production traffic.
SHADOW_VARIANT = "shadow"
# Columns every source must give (the suite's `expect_column_to_exist` rules name exactly these; a test holds
# them equal). The provider is derived from the model when a log lacks it.
REQUIRED_COLUMNS: tuple[str, ...] = ("request_id", "ts", "service", "task_type", "model", "prompt_tokens",
                                     "completion_tokens", "latency_ms", "status")
# Every other contract column may be absent: absent means null in every row (no experiments, no shadow traffic,
# no logged cost: priced from the price map), not a breach. A strategy that needs one says so when it is absent.
ABSENT_MEANS_NULL: tuple[str, ...] = tuple(c for c in REQUEST_COLUMNS if c not in REQUIRED_COLUMNS)

STATUSES = ("ok", "error", "timeout")
# Text columns with a few distinct values per hour (names, labels, codes), which Parquet writers store
# dictionary-encoded: a lake reads them as Arrow dictionaries for the engine, one copy of each value
LOW_CARDINALITY_TEXT: tuple[str, ...] = ("service", "task_type", "provider", "model", "status", "finish_reason",
                                         "experiment_id", "variant")

# Optional: not required by the contract, present in tables llmopt creates. `prefix_hashes` holds the
# space-separated hashes of the prompt's prefix blocks (as in the Mooncake trace); the prompt-caching
# strategy replays them.
# `prompt_id` pairs answers to the same prompt from different models (shadow traffic, evaluations) and
# `confidence` is the answering model's own signal (e.g. mean token log-prob, a verifier score): the
# cascade strategy needs both.
OPTIONAL_COLUMNS = {"prefix_hashes": String, "prompt_id": String, "confidence": Float}


def requests_table(name: str, metadata: MetaData) -> Table:
    """Return the SQLAlchemy table for a request log called `name` (schema-qualified allowed)."""
    schema, _, table_name = name.rpartition(".")
    columns = [Column(col, sql_type if not isinstance(sql_type, type) else sql_type())
               for col, sql_type in {**REQUEST_COLUMNS, **OPTIONAL_COLUMNS}.items()]
    table = Table(table_name, metadata, *columns, schema=schema or None)
    Index(f"ix_{table_name}_ts", table.c.ts)
    return table


def quarantine_table(name: str, metadata: MetaData) -> Table:
    """Return the table that holds rows which broke a row-level expectation, with the reason."""
    schema, _, table_name = name.rpartition(".")
    return Table(
        table_name, metadata,
        Column("request_id", String),
        Column("ts", String),
        Column("reason", String, nullable=False),
        Column("row_json", String, nullable=False),
        Column("source", String, nullable=False),   # "window <start>/<end>" or "ingest <file>"
        Column("quarantined_at", DateTime(timezone=True), nullable=False),
        Index(f"ix_{table_name}_source", "source"),
        schema=schema or None,
    )
