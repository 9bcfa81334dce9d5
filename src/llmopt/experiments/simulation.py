"""Seeded request logs for one task with a known truth: experiment arms and before/after a change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from llmopt.client import assign
from llmopt.experiments.definitions import ExperimentDefinition
from llmopt.extract.synthetic import MODELS, QUALITY_CONCENTRATION, TASKS


@dataclass(frozen=True)
class ArmTruth:
    """What one arm truly delivers: mean quality, error rate and a latency multiplier."""

    quality: float
    error_rate: float = 0.005
    latency_scale: float = 1.0


def task_requests(service: str, task_type: str, models: np.ndarray, truths: list[ArmTruth], arm: np.ndarray,
                  start: datetime, hours: float, rng: np.random.Generator, id_prefix: str) -> pd.DataFrame:
    """Requests of one task; request i is served by `models[i]` and behaves as `truths[arm[i]]`."""
    task = next(t for t in TASKS if t.service == service and t.task_type == task_type)
    n = len(models)
    quality = np.array([t.quality for t in truths])[arm]
    error_rate = np.array([t.error_rate for t in truths])[arm]
    scale = np.array([t.latency_scale for t in truths])[arm]
    profile = [MODELS[m] for m in models]
    prompt = np.maximum(1, np.round(task.prompt_tokens_median * rng.lognormal(0, 0.5, n))).astype(np.int64)
    completion = np.maximum(1, np.round(task.completion_tokens_median * rng.lognormal(0, 0.4, n))).astype(np.int64)
    base = np.array([p.base_ms for p in profile])
    latency = (base + np.array([p.ms_per_completion_token for p in profile]) * completion) * scale \
        * rng.lognormal(0, 0.3, n)
    failed = rng.random(n) < error_rate
    scored = ~failed & (rng.random(n) < 0.6)
    score = rng.beta(quality * QUALITY_CONCENTRATION, (1 - quality) * QUALITY_CONCENTRATION)
    ts = pd.DatetimeIndex(start + pd.to_timedelta(np.sort(rng.uniform(0, hours * 3600, n)), unit="s"))
    return pd.DataFrame({
        "request_id": [f"{id_prefix}-{i:08d}" for i in range(n)],
        "ts": ts if ts.tz is not None else ts.tz_localize("UTC"),
        "service": service, "task_type": task_type,
        "provider": [p.provider for p in profile], "model": models,
        "prompt_tokens": prompt, "completion_tokens": np.where(failed, 0, completion),
        "cached_tokens": np.zeros(n, dtype=np.int64), "max_tokens": np.full(n, 1024, dtype=np.int64),
        "temperature": np.full(n, 0.2), "latency_ms": np.round(latency, 1),
        "ttft_ms": np.round(base * scale, 1), "status": np.where(failed, "error", "ok"),
        "finish_reason": np.where(failed, None, "stop"), "cost_usd": np.nan,
        "quality_score": np.where(scored, np.round(score, 4), np.nan),
        "experiment_id": None, "variant": None,
    })


def experiment_requests(definition: ExperimentDefinition, truths: dict[str, ArmTruth], start: datetime,
                        hours: float, units_per_hour: int, seed: int) -> pd.DataFrame:
    """Traffic of a running experiment, each unit assigned by `llmopt.client.assign` like a gateway would."""
    rng = np.random.default_rng(seed)
    n = int(units_per_hour * hours)
    prefix = f"{definition.id}-{seed}-{start:%Y%m%d%H}"
    names = [v.name for v in definition.variants]
    arm = np.array([names.index(assign(definition, f"{prefix}-{i:08d}")) for i in range(n)])
    models = np.array([definition.variants[a].model for a in arm])
    frame = task_requests(definition.service, definition.task_type, models, [truths[v] for v in names], arm,
                          start, hours, rng, prefix)
    frame["experiment_id"] = definition.id
    frame["variant"] = np.array(names)[arm]
    return frame


def route_requests(service: str, task_type: str, model: str, truth: ArmTruth, start: datetime, hours: float,
                   rows: int, seed: int) -> pd.DataFrame:
    """Plain traffic of one task on one model (e.g. before or after a published change)."""
    rng = np.random.default_rng(seed)
    return task_requests(service, task_type, np.full(rows, model, dtype=object), [truth], np.zeros(rows, dtype=int),
                         start, hours, rng, f"{service}-{task_type}-{model}-{seed}-{start:%Y%m%d%H}")


def hours_between(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start) / timedelta(hours=1))


def paired_requests(service: str, task_type: str, current: str, cheap: str, prompts: int, correct: dict[str, float],
                    signal: float, start: datetime, hours: float, seed: int) -> pd.DataFrame:
    """Every prompt answered by `current` (production) and by `cheap` (shadow), scored 1/0 for correctness.

    The cheap answer carries `confidence` = sigmoid(signal · (±1 for right/wrong) + N(0, 1)): `signal` 0 is
    an uninformative signal, 2 a good one. Both rows share `prompt_id` and prompt length.
    """
    rng = np.random.default_rng(seed)
    truths = [ArmTruth(0.5, error_rate=0.0)] * 2
    prefix = f"pair-{service}-{task_type}-{seed}-{start:%Y%m%d%H}"
    base = task_requests(service, task_type, np.full(prompts, current, dtype=object), truths,
                         np.zeros(prompts, dtype=int), start, hours, rng, f"{prefix}-cur")
    shadow = task_requests(service, task_type, np.full(prompts, cheap, dtype=object), truths,
                           np.zeros(prompts, dtype=int), start, hours, rng, f"{prefix}-cheap")
    shadow["ts"], shadow["prompt_tokens"] = base["ts"].to_numpy(), base["prompt_tokens"].to_numpy()
    out = []
    for frame, model in ((base, current), (shadow, cheap)):
        right = rng.random(prompts) < correct[model]
        frame = frame.assign(quality_score=right.astype(float), prompt_id=[f"{prefix}-{i:06d}" for i in range(prompts)])
        if model == cheap:
            logit = signal * np.where(right, 1.0, -1.0) + rng.normal(0, 1, prompts)
            frame = frame.assign(confidence=1 / (1 + np.exp(-logit)), variant="shadow", experiment_id="shadow-eval")
        out.append(frame)
    return pd.concat(out, ignore_index=True)
