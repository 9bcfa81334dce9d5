"""Production traces with tokens and timestamps only (Azure LLM inference traces 2023) → request log.

Azure (Azure/AzurePublicDataset AzureLLMInferenceTrace_{code,conv}; one hour, 2023-11-16):
- ts = TIMESTAMP (UTC), prompt_tokens = ContextTokens, completion_tokens = GeneratedTokens, all `ok`.
- service `azure-<code|conv>` and task_type `<code|conv>` from the file name.
- The trace names no model: requests are logged as `gpt-4o` (provider `openai`) and priced from the
  price map; latency_ms is a stand-in (see llmopt.importers.common), quality is absent.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from llmopt.importers.common import request_frame, stand_in_latency_ms
from llmopt.prices import PriceMap

AZURE_MODEL = ("gpt-4o", "openai")


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
    raise ValueError("format mooncake: not supported yet (the request log has no prefix-hash column)")
