"""Production traces with tokens and timestamps only (Azure LLM inference traces 2023) → request log.

Azure (Azure/AzurePublicDataset AzureLLMInferenceTrace_{code,conv}; one hour, 2023-11-16):
- ts = TIMESTAMP (UTC), prompt_tokens = ContextTokens, completion_tokens = GeneratedTokens, all `ok`.
- service `azure-<code|conv>` and task_type `<code|conv>` from the file name.
- The trace names no model: requests are logged as `gpt-4o` (provider `openai`) and priced from the
  price map; latency_ms is a stand-in (see llmopt.extract.importers.common), quality is absent.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from llmopt.extract.importers.common import request_frame, stand_in_latency_ms
from llmopt.prices import PriceMap

AZURE_MODEL = ("gpt-4o", "openai")
MOONCAKE_MODEL = ("claude-3-5-sonnet-20240620", "anthropic")


def read_azure(path: Path, end: datetime, prices: PriceMap) -> pd.DataFrame:
    raw = pd.read_csv(path)
    kind = "code" if "code" in path.stem.lower() else "conv"
    completion = raw["GeneratedTokens"].astype(np.int64)
    n = len(raw)
    return request_frame(
        request_id=[f"azure-{kind}-{i:06d}" for i in range(n)],
        ts=pd.to_datetime(raw["TIMESTAMP"], format="mixed"),
        service=pd.Series(f"azure-{kind}", index=raw.index), task_type=pd.Series(kind, index=raw.index),
        provider=pd.Series(AZURE_MODEL[1], index=raw.index), model=pd.Series(AZURE_MODEL[0], index=raw.index),
        prompt_tokens=raw["ContextTokens"].astype(np.int64), completion_tokens=completion,
        cached_tokens=np.zeros(n, dtype=np.int64), latency_ms=stand_in_latency_ms(completion),
        status=pd.Series("ok", index=raw.index), finish_reason=pd.Series("stop", index=raw.index))


def read_mooncake(path: Path, end: datetime, prices: PriceMap) -> pd.DataFrame:
    """Mooncake conversation trace (kvcache-ai/Mooncake FAST25-release; about one hour, 12,031 requests).

    ts = the hour before `end` + `timestamp` ms; prompt/completion tokens = input_length/output_length;
    prefix_hashes = hash_ids (≈ 512-token prompt blocks; a repeated id is a shared prefix). The trace
    names no model: requests are logged as `claude-3-5-sonnet-20240620` (provider `anthropic`, which
    prices cache reads and writes); latency is a stand-in; no quality.
    """
    raw = pd.read_json(path, lines=True)
    n = len(raw)
    start = pd.Timestamp(end) - pd.Timedelta(hours=1)
    completion = raw["output_length"].astype(np.int64)
    return request_frame(
        request_id=[f"mooncake-{i:06d}" for i in range(n)],
        ts=pd.DatetimeIndex(start + pd.to_timedelta(raw["timestamp"], unit="ms")),
        service=pd.Series("mooncake", index=raw.index), task_type=pd.Series("conversation", index=raw.index),
        provider=pd.Series(MOONCAKE_MODEL[1], index=raw.index), model=pd.Series(MOONCAKE_MODEL[0], index=raw.index),
        prompt_tokens=raw["input_length"].astype(np.int64), completion_tokens=completion,
        cached_tokens=np.zeros(n, dtype=np.int64), latency_ms=stand_in_latency_ms(completion),
        status=pd.Series("ok", index=raw.index), finish_reason=pd.Series("stop", index=raw.index),
        prefix_hashes=raw["hash_ids"].map(lambda ids: " ".join(str(i) for i in ids)))
