"""llmperf leaderboard per-request results → request log.

Mapping (ray-project/llmperf-leaderboard raw_data, flattened; one row per request):
- service `llmperf`, task_type `llama-2-<size>-chat` (the same prompt size for every provider of a size),
  provider = `provider`, model = `model` (each provider's own id of the model).
- status `ok` when `error_code` is empty, else `error` with finish_reason `error_<code>`
  (e.g. `error_429` for rate limiting); ok rows have finish_reason `stop`.
- latency_ms = end_to_end_latency_s × 1000, ttft_ms = ttft_s × 1000. A request rejected before any
  byte arrived is logged with 0 s by llmperf; it gets 1 ms (the contract needs a positive latency).
- prompt/completion tokens = number_input_tokens / number_output_tokens (0 output on errors).
- No timestamps: rows are spread in file order over the hour before `end`.
- No prices per provider: every request is priced at Anyscale's list price for the same Llama-2 size
  (the price map's `anyscale/meta-llama/Llama-2-<size>-chat-hf`), an assumption for comparisons only.
- No quality scores.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from llmopt.extract.importers.common import request_frame, spread_over_hour
from llmopt.prices import PriceMap


def read_llmperf(path: Path, end: datetime, prices: PriceMap) -> pd.DataFrame:
    raw = pd.read_csv(path)
    failed = raw["error_code"].notna()
    size = raw["model_size"].astype(str).str.lower()
    prompt = raw["number_input_tokens"].fillna(0).astype(np.int64)
    completion = np.where(failed, 0, raw["number_output_tokens"].fillna(0)).astype(np.int64)
    cost = np.full(len(raw), np.nan)
    for s, idx in raw.groupby(size).indices.items():
        key = f"anyscale/meta-llama/Llama-2-{s}-chat-hf"
        if prices.get(key) is not None:
            cost[idx] = prices.request_cost_usd(key, prompt.iloc[idx], completion[idx], np.zeros(len(idx)))
    code = raw["error_code"].astype("Int64").astype(str)
    return request_frame(
        request_id=[f"llmperf-{i:06d}" for i in range(len(raw))],
        ts=spread_over_hour(len(raw), end),
        service=pd.Series("llmperf", index=raw.index), task_type="llama-2-" + size + "-chat",
        provider=raw["provider"].astype(str), model=raw["model"].astype(str),
        prompt_tokens=prompt, completion_tokens=completion, cached_tokens=np.zeros(len(raw), dtype=np.int64),
        latency_ms=np.maximum(raw["end_to_end_latency_s"].fillna(0) * 1000.0, 1.0),
        ttft_ms=(raw["ttft_s"] * 1000.0).where(raw["ttft_s"] > 0),
        status=np.where(failed, "error", "ok"),
        finish_reason=np.where(failed, "error_" + code, "stop"),
        cost_usd=cost)
