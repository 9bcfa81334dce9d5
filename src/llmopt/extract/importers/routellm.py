"""RouteLLM paired evaluations (the same prompts answered by GPT-4 and Mixtral) → request log.

Mapping (lm-sys/RouteLLM routellm/evals; MMLU 14,042 prompts, GSM8K 1,319 prompts):
- service `routellm`, task_type `mmlu` or `gsm8k`.
- Two rows per prompt: GPT-4 (`gpt-4-1106-preview`, provider `openai`) as production traffic, and
  Mixtral (`together_ai/mistralai/Mixtral-8x7B-Instruct-v0.1`, provider `together_ai`) as shadow
  traffic (variant `shadow`, experiment_id `routellm-<task>`): the evaluation answered every prompt
  with both, production served GPT-4.
- quality_score = 1 when the model's answer is correct, else 0.
- prompt_tokens ≈ characters/4; completion_tokens: 1 on MMLU (a letter), ≈ characters/4 of the
  logged response on GSM8K. Costs come from the price map (cost_usd left null).
- latency_ms is a stand-in (see llmopt.extract.importers.common), not a measurement.
- No timestamps: rows are spread in file order over the hour before `end`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from llmopt.extract.importers.common import approx_tokens, request_frame, spread_over_hour, stand_in_latency_ms
from llmopt.prices import PriceMap
from llmopt.extract.schema import SHADOW_VARIANT

PRODUCTION = ("gpt-4-1106-preview", "openai")
SHADOW = ("together_ai/mistralai/Mixtral-8x7B-Instruct-v0.1", "together_ai")


def paired_rows(task: str, prompts: pd.Series, correct: dict[str, pd.Series], completion: dict[str, np.ndarray],
                end: datetime) -> pd.DataFrame:
    """Production and shadow rows of the same prompts, interleaved in prompt order."""
    n = len(prompts)
    frames = []
    for arm, (model, provider) in (("production", PRODUCTION), ("shadow", SHADOW)):
        frames.append(pd.DataFrame({
            "order": np.arange(n) * 2 + (arm == "shadow"), "request_id": [f"routellm-{task}-{arm}-{i:06d}" for i in range(n)],
            "model": model, "provider": provider, "prompt_tokens": approx_tokens(prompts),
            "completion_tokens": completion[arm], "quality_score": correct[arm].astype(float).to_numpy(),
            "variant": SHADOW_VARIANT if arm == "shadow" else None,
            "experiment_id": f"routellm-{task}" if arm == "shadow" else None}))
    both = pd.concat(frames).sort_values("order").reset_index(drop=True)
    return request_frame(
        request_id=both["request_id"], ts=spread_over_hour(len(both), end),
        service=pd.Series("routellm", index=both.index), task_type=pd.Series(task, index=both.index),
        provider=both["provider"], model=both["model"], prompt_tokens=both["prompt_tokens"],
        completion_tokens=both["completion_tokens"], cached_tokens=np.zeros(len(both), dtype=np.int64),
        latency_ms=stand_in_latency_ms(both["completion_tokens"]), status=pd.Series("ok", index=both.index),
        finish_reason=pd.Series("stop", index=both.index), quality_score=both["quality_score"],
        experiment_id=both["experiment_id"], variant=both["variant"])


def read_routellm_mmlu(path: Path, end: datetime, prices: PriceMap) -> pd.DataFrame:
    raw = pd.read_csv(path)
    ones = np.ones(len(raw), dtype=np.int64)
    return paired_rows("mmlu", raw["prompt"], {"production": raw["gpt_4_1106_preview_correct"],
                                               "shadow": raw["mixtral_8x7b_instruct_correct"]},
                       {"production": ones, "shadow": ones}, end)


def read_routellm_gsm8k(path: Path, end: datetime, prices: PriceMap) -> pd.DataFrame:
    raw = pd.read_csv(path)
    gpt4, mixtral = "gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"
    return paired_rows("gsm8k", raw["prompt"], {"production": raw[gpt4], "shadow": raw[mixtral]},
                       {"production": approx_tokens(raw[f"{gpt4}_response"]),
                        "shadow": approx_tokens(raw[f"{mixtral}_response"])}, end)
