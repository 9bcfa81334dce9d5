"""A realistic, seeded synthetic request log with a known truth per (task, model).

Production traffic of each task goes to an expensive model; a small share of randomly assigned
exploration traffic goes to the others, which is what lets the optimizer compare them fairly.
Some tasks have a cheaper model that is truly good enough; others do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd

from llmopt.domain import last_complete_hour
from llmopt.prices import PriceMap


@dataclass(frozen=True)
class ModelProfile:
    """How a model behaves: latency = (base + per-prompt-token + per-completion-token) × noise."""

    provider: str
    base_ms: float
    ms_per_prompt_token: float
    ms_per_completion_token: float
    verbosity: float          # completion length relative to the task's typical length
    error_rate: float
    timeout_rate: float


MODELS: dict[str, ModelProfile] = {
    "gpt-4o": ModelProfile("openai", 350, 0.020, 14.0, 1.00, 0.004, 0.002),
    "claude-3-5-sonnet-20240620": ModelProfile("anthropic", 450, 0.025, 16.0, 1.20, 0.006, 0.002),
    "gpt-4o-mini": ModelProfile("openai", 250, 0.010, 8.0, 1.10, 0.005, 0.001),
    "claude-3-haiku-20240307": ModelProfile("anthropic", 200, 0.008, 6.0, 0.90, 0.070, 0.004),
    "gpt-4.1-nano": ModelProfile("openai", 150, 0.005, 4.0, 1.30, 0.006, 0.001),
}


@dataclass(frozen=True)
class TaskProfile:
    """A task of a service: its traffic share, token sizes, production model and true quality."""

    service: str
    task_type: str
    traffic_share: float
    prompt_tokens_median: float
    completion_tokens_median: float
    production_model: str
    true_quality: dict[str, float]


# The truth the tests and the decision benchmark check against (margin 0.02 by default):
# classify_ticket, summarize, extract_entities: gpt-4o-mini is good enough and much cheaper.
# draft_reply, code_review, generate_code: no cheaper model is good enough.
TASKS: tuple[TaskProfile, ...] = (
    TaskProfile("support", "classify_ticket", 0.22, 450, 12, "gpt-4o",
                {"gpt-4o": 0.930, "claude-3-5-sonnet-20240620": 0.935, "gpt-4o-mini": 0.928,
                 "claude-3-haiku-20240307": 0.925, "gpt-4.1-nano": 0.860}),
    TaskProfile("support", "draft_reply", 0.20, 1200, 260, "gpt-4o",
                {"gpt-4o": 0.860, "claude-3-5-sonnet-20240620": 0.870, "gpt-4o-mini": 0.790,
                 "claude-3-haiku-20240307": 0.770, "gpt-4.1-nano": 0.700}),
    TaskProfile("search", "summarize", 0.18, 3000, 180, "gpt-4o",
                {"gpt-4o": 0.880, "claude-3-5-sonnet-20240620": 0.885, "gpt-4o-mini": 0.878,
                 "claude-3-haiku-20240307": 0.850, "gpt-4.1-nano": 0.820}),
    TaskProfile("search", "extract_entities", 0.15, 800, 60, "gpt-4o",
                {"gpt-4o": 0.950, "claude-3-5-sonnet-20240620": 0.950, "gpt-4o-mini": 0.947,
                 "claude-3-haiku-20240307": 0.946, "gpt-4.1-nano": 0.900}),
    TaskProfile("coding", "code_review", 0.13, 2500, 400, "claude-3-5-sonnet-20240620",
                {"gpt-4o": 0.800, "claude-3-5-sonnet-20240620": 0.830, "gpt-4o-mini": 0.700,
                 "claude-3-haiku-20240307": 0.680, "gpt-4.1-nano": 0.600}),
    TaskProfile("coding", "generate_code", 0.12, 1500, 500, "claude-3-5-sonnet-20240620",
                {"gpt-4o": 0.780, "claude-3-5-sonnet-20240620": 0.820, "gpt-4o-mini": 0.690,
                 "claude-3-haiku-20240307": 0.700, "gpt-4.1-nano": 0.550}),
)

QUALITY_CONCENTRATION = 30.0   # Beta(a, b) with a + b = 30: per-request score sd ≈ 0.05
SCORED_SHARE = 0.6             # share of ok requests that get an eval/feedback score
LOGGED_COST_SHARE = 0.7        # the rest have cost_usd null and are priced from the price map
TIMEOUT_MS = 30_000.0


def generate_requests(rows: int, hours: int = 1, seed: int = 7, end: datetime | None = None,
                      exploration_share: float = 0.10, prices: PriceMap | None = None,
                      tasks: tuple[TaskProfile, ...] = TASKS,
                      models: dict[str, ModelProfile] | None = None) -> pd.DataFrame:
    """Generate `rows` requests spread over the `hours` hours that end at `end`.

    Args:
        rows: number of requests.
        hours: how many whole hours the requests span.
        seed: random seed; the same arguments give the same rows.
        end: end of the last hour (default: end of the last complete hour).
        exploration_share: share of each task's traffic randomly sent to the other models.
        prices: price map for `cost_usd` (default: none logged, all priced later).
        tasks, models: the world's truth (default: TASKS and MODELS; the decision benchmark varies them).
    """
    models = models or MODELS
    rng = np.random.default_rng(seed)
    end = end or last_complete_hour() + timedelta(hours=1)
    start = end - timedelta(hours=hours)
    model_names = list(models)

    shares = np.array([t.traffic_share for t in tasks])
    task_idx = rng.choice(len(tasks), size=rows, p=shares / shares.sum())
    production = np.array([model_names.index(t.production_model) for t in tasks])[task_idx]
    explore = rng.random(rows) < exploration_share
    # Exploration picks uniformly among the models other than the production one.
    offset = rng.integers(1, len(model_names), size=rows)
    model_idx = np.where(explore, (production + offset) % len(model_names), production)

    profile = {f: np.array([getattr(models[m], f) for m in model_names])[model_idx]
               for f in ("base_ms", "ms_per_prompt_token", "ms_per_completion_token", "verbosity",
                         "error_rate", "timeout_rate")}
    prompt_med = np.array([t.prompt_tokens_median for t in tasks])[task_idx]
    completion_med = np.array([t.completion_tokens_median for t in tasks])[task_idx]
    prompt = np.maximum(1, np.round(prompt_med * rng.lognormal(0, 0.5, rows))).astype(np.int64)
    # Longer prompts get somewhat longer answers; each model has its own verbosity.
    completion = completion_med * profile["verbosity"] * (prompt / prompt_med) ** 0.3
    completion = np.maximum(1, np.round(completion * rng.lognormal(0, 0.4, rows))).astype(np.int64)
    cached = np.where(rng.random(rows) < 0.4, np.minimum(prompt, 256 * rng.integers(1, 5, rows)), 0)

    # Heavy tail: lognormal noise times an occasional Pareto slowdown.
    noise = rng.lognormal(0, 0.30, rows) * np.where(rng.random(rows) < 0.03, 1 + rng.pareto(2.5, rows), 1.0)
    latency = (profile["base_ms"] + profile["ms_per_prompt_token"] * prompt
               + profile["ms_per_completion_token"] * completion) * noise

    u = rng.random(rows)
    status = np.where(u < profile["error_rate"], "error",
                      np.where(u < profile["error_rate"] + profile["timeout_rate"], "timeout", "ok"))
    failed = status != "ok"
    completion = np.where(failed, 0, completion)
    latency = np.where(status == "timeout", TIMEOUT_MS, np.where(status == "error",
                       rng.uniform(50, 800, rows), np.minimum(latency, TIMEOUT_MS - 1)))

    quality_table = np.array([[t.true_quality[m] for m in model_names] for t in tasks])
    true_quality = quality_table[task_idx, model_idx]
    score = rng.beta(true_quality * QUALITY_CONCENTRATION, (1 - true_quality) * QUALITY_CONCENTRATION)
    scored = (~failed) & (rng.random(rows) < SCORED_SHARE)

    ts = start + pd.to_timedelta(np.sort(rng.uniform(0, hours * 3600, rows)), unit="s")
    names = np.array(model_names)[model_idx]
    frame = pd.DataFrame({
        "request_id": [f"req-{start:%Y%m%d%H}-{seed}-{i:08d}" for i in range(rows)],
        "ts": pd.DatetimeIndex(ts).tz_convert("UTC") if ts.tz is not None else pd.DatetimeIndex(ts, tz="UTC"),
        "service": np.array([t.service for t in tasks])[task_idx],
        "task_type": np.array([t.task_type for t in tasks])[task_idx],
        "provider": np.array([models[m].provider for m in model_names])[model_idx],
        "model": names,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cached_tokens": cached.astype(np.int64),
        "max_tokens": np.full(rows, 1024, dtype=np.int64),
        "temperature": np.full(rows, 0.2),
        "latency_ms": np.round(latency, 1),
        "ttft_ms": np.where(failed, np.nan, np.round(profile["base_ms"] * noise, 1)),
        "status": status,
        "finish_reason": np.where(failed, None, "stop"),
        "cost_usd": np.nan,
        "quality_score": np.where(scored, np.round(score, 4), np.nan),
        "experiment_id": None,
        "variant": None,
    })
    if prices is not None:
        logged = rng.random(rows) < LOGGED_COST_SHARE
        for model, idx in frame.groupby("model").indices.items():
            sel = idx[logged[idx]]
            frame.loc[sel, "cost_usd"] = prices.request_cost_usd(
                model, prompt[sel], completion[sel], cached[sel])
    return frame
