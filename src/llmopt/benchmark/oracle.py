"""The oracle: with the true quality, error rate, cost and latency of every (task, model), the best safe call."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from llmopt.benchmark.worlds import World
from llmopt.prices import PriceMap
from llmopt.settings import Guardrails
from llmopt.extract.synthetic import generate_requests

TRUTH_ROWS = 120_000


@dataclass(frozen=True)
class TaskTruth:
    """What each model truly does on one task: quality, failure rate, cost per request, p95 latency."""

    service: str
    task_type: str
    production_model: str
    quality: dict[str, float]
    failure_rate: dict[str, float]
    cost_per_request: dict[str, float]
    latency_p95_ms: dict[str, float]
    requests_per_day: float

    def safe(self, model: str, current: str, rules: Guardrails) -> bool:
        """Whether a switch current → model keeps every guardrail in truth."""
        return (self.quality[model] >= self.quality[current] - rules.quality_margin - 1e-12
                and self.failure_rate[model] <= rules.max_error_rate
                and (rules.latency_p95_ms is None or self.latency_p95_ms[model] <= rules.latency_p95_ms))

    def savings_per_day(self, current: str, model: str) -> float:
        return (self.cost_per_request[current] - self.cost_per_request[model]) * self.requests_per_day

    def oracle(self, rules: Guardrails) -> str:
        """The cheapest model that is safe to switch to from production (production itself if none is)."""
        safe = [m for m in self.quality if self.safe(m, self.production_model, rules)]
        return min(safe, key=lambda m: self.cost_per_request[m])


def task_truths(world: World, prices: PriceMap, seed: int = 99) -> dict[tuple[str, str], TaskTruth]:
    """Truth per task by Monte Carlo: every model serves a large sample of each task's token mix."""
    # exploration 1.0 sends every request to a non-production model; add a production-only sample
    sample = pd.concat([generate_requests(TRUTH_ROWS, seed=seed, exploration_share=1.0, tasks=world.truth,
                                          models=world.models),
                        generate_requests(TRUTH_ROWS // 4, seed=seed + 1, exploration_share=0.0, tasks=world.truth,
                                          models=world.models)], ignore_index=True)
    sample = sample.assign(cost=prices.fill_cost(sample))
    ok = sample[sample["status"] == "ok"]
    out = {}
    share = np.array([t.traffic_share for t in world.tasks])
    for i, t in enumerate(world.truth):
        rows = sample[sample["task_type"] == t.task_type]
        ok_rows = ok[ok["task_type"] == t.task_type]
        models = list(world.models)
        profile = world.models
        out[(t.service, t.task_type)] = TaskTruth(
            t.service, t.task_type, t.production_model, dict(t.true_quality),
            {m: profile[m].error_rate + profile[m].timeout_rate for m in models},
            {m: float(rows.loc[rows["model"] == m, "cost"].mean()) for m in models},
            {m: float(np.quantile(ok_rows.loc[ok_rows["model"] == m, "latency_ms"], 0.95)) for m in models},
            requests_per_day=world.rows_per_hour * 24 * share[i] / share.sum())
    return out


def truth_frame(truths: dict[tuple[str, str], TaskTruth]) -> pd.DataFrame:
    return pd.DataFrame([{"service": t.service, "task_type": t.task_type, "model": m, "quality": t.quality[m],
                          "failure_rate": t.failure_rate[m], "cost_per_request": t.cost_per_request[m],
                          "latency_p95_ms": t.latency_p95_ms[m]} for t in truths.values() for m in t.quality])
