"""Score a run's published changes against the oracle: savings captured, guardrail violations, false changes."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from llmopt.benchmark.oracle import TaskTruth
from llmopt.settings import Policy


@dataclass(frozen=True)
class DecisionScore:
    """One (world, seed, task) decision."""

    world: str
    seed: int
    service: str
    task_type: str
    current: str
    chosen: str
    oracle: str
    oracle_savings_usd_per_day: float
    captured_savings_usd_per_day: float
    violation: str            # which true guardrail the published change breaks, or ""
    false_change: bool        # a change where the oracle makes none


def score_run(world: str, seed: int, truths: dict[tuple[str, str], TaskTruth], published_routes: dict,
              policy: Policy) -> list[DecisionScore]:
    """One score per task: `published_routes` maps (service, task_type) → the model now published (if any)."""
    out = []
    for key, truth in sorted(truths.items()):
        rules = policy.for_service(truth.service)
        current = truth.production_model
        chosen = published_routes.get(key, current)
        oracle = truth.oracle(rules)
        violation = ""
        if chosen != current and not truth.safe(chosen, current, rules):
            q_ok = truth.quality[chosen] >= truth.quality[current] - rules.quality_margin - 1e-12
            violation = ("quality" if not q_ok else "error rate" if truth.failure_rate[chosen] > rules.max_error_rate
                         else "latency")
        out.append(DecisionScore(world, seed, truth.service, truth.task_type, current, chosen, oracle,
                                 truth.savings_per_day(current, oracle),
                                 truth.savings_per_day(current, chosen) if chosen != current else 0.0,
                                 violation, chosen != current and oracle == current))
    return out


def summary_table(scores: list[DecisionScore], capture_worlds: set[str]) -> tuple[pd.DataFrame, dict]:
    """Per world: decisions, oracle and captured savings, violations, false changes; plus the totals."""
    frame = pd.DataFrame([asdict(s) for s in scores])
    table = frame.groupby("world", sort=False).agg(
        decisions=("task_type", "size"), oracle_savings=("oracle_savings_usd_per_day", "sum"),
        captured_savings=("captured_savings_usd_per_day", "sum"),
        violations=("violation", lambda v: int((v != "").sum())), false_changes=("false_change", "sum"))
    table["captured_share"] = (table["captured_savings"] / table["oracle_savings"]).where(table["oracle_savings"] > 0)
    safe_worlds = frame[frame["world"].isin(capture_worlds)]
    oracle_total = safe_worlds["oracle_savings_usd_per_day"].sum()
    totals = {"decisions": len(frame), "violations": int((frame["violation"] != "").sum()),
              "false_changes": int(frame["false_change"].sum()),
              "captured_share_where_safe_change_exists":
                  float(safe_worlds["captured_savings_usd_per_day"].sum() / oracle_total) if oracle_total > 0 else None}
    return table.reset_index(), totals
