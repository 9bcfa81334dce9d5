"""What the importers share: the request-log frame, timestamps for traces without them, a latency stand-in."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from llmopt.extract.schema import REQUEST_COLUMNS

# Traces without latency (RouteLLM, Azure, Mooncake) still need a positive latency_ms for the contract.
# Stand-in, not a measurement: 300 ms to first token plus 20 ms per output token (≈ 50 tokens/s).
# Do not set a latency SLA on these services; the llmperf import carries measured latencies.
STAND_IN_TTFT_MS, STAND_IN_MS_PER_TOKEN = 300.0, 20.0


def stand_in_latency_ms(completion_tokens: np.ndarray) -> np.ndarray:
    return STAND_IN_TTFT_MS + STAND_IN_MS_PER_TOKEN * np.asarray(completion_tokens, dtype=float)


def spread_over_hour(n: int, end: datetime) -> pd.DatetimeIndex:
    """n timestamps evenly spread, in file order, over the hour before `end` (for traces without any)."""
    start = pd.Timestamp(end - timedelta(hours=1))
    return pd.DatetimeIndex(start + pd.to_timedelta(np.arange(n) * (3600.0 / max(n, 1)), unit="s"))


def approx_tokens(texts: pd.Series) -> np.ndarray:
    """≈ 4 characters per token (OpenAI's rule of thumb for English), at least 1."""
    return np.maximum(1, np.ceil(texts.fillna("").astype(str).str.len() / 4.0)).astype(np.int64)


def request_frame(**columns) -> pd.DataFrame:
    """A frame with every request-log column in order; columns not given are null."""
    n = len(next(iter(columns.values())))
    out = pd.DataFrame({c: columns.get(c, pd.Series([None] * n)) for c in REQUEST_COLUMNS})
    if "prefix_hashes" in columns:
        out["prefix_hashes"] = columns["prefix_hashes"]
    ts = pd.DatetimeIndex(out["ts"])
    out["ts"] = ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")
    for c, sql_type in REQUEST_COLUMNS.items():
        if c != "ts" and getattr(sql_type, "__name__", "") == "String":
            out[c] = out[c].astype("str").where(out[c].notna(), None) if out[c].notna().any() else out[c]
    for c in ("max_tokens",):
        out[c] = out[c].astype("Int64")
    for c in ("temperature", "ttft_ms", "cost_usd", "quality_score"):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
    return out
