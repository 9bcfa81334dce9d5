"""Prompt caching per (service, task_type, model), by replaying the window's prompt-prefix block hashes.

Replay: in time order, a request's leading blocks already seen within `ttl_s` are cache hits (a prefix
cache only reuses a prefix); every block it sends is then fresh for `ttl_s`. Block size = prompt_tokens /
blocks. Savings per day = (hit tokens × (input − cached-input price) − written tokens × (write − input price))
× 24 / window hours, at the model's list prices; recommended where caching is not on yet (no cached_tokens
logged) and the saving is positive and ≥ min_savings_usd_per_day. The share of requests with a hit carries
a Wilson interval.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from llmopt.decide.policy import policy_decision
from llmopt.domain import Change, Strategy
from llmopt.publish.config_model import LatestConfigs, route_of
from llmopt.evaluate.registry import DecisionInputs, EvaluationInputs, Scope, StrategySpec, register
from llmopt.prices import PriceMap
from llmopt.settings import Policy
from llmopt.stats import Interval, ProportionStats, wilson_interval

TTL_S = 300.0   # the common provider default (Anthropic: 5 minutes)


@dataclass(frozen=True)
class CachingEvaluation:
    service: str
    task_type: str
    model: str
    provider: str
    requests: int
    prompt_tokens: int
    cacheable_tokens: int
    written_tokens: int
    cacheable_share: float
    requests_with_hit: Interval
    already_cached_tokens: int
    expected_savings_usd_per_day: float
    recommended: bool
    verdict: str

    def to_dict(self) -> dict:
        return asdict(self)


def replay(frame: pd.DataFrame, ttl_s: float = TTL_S) -> tuple[int, int, int]:
    """(hit tokens, written tokens, requests with a hit) of one task's requests in time order."""
    last_seen: dict[str, float] = {}
    hit_tokens = written = with_hit = 0
    seconds = (pd.to_datetime(frame["ts"], utc=True) - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds()
    for ts, prompt, hashes in zip(seconds, frame["prompt_tokens"], frame["prefix_hashes"]):
        blocks = str(hashes).split()
        if not blocks:
            continue
        size = prompt / len(blocks)
        hits = 0
        for block in blocks:
            if ts - last_seen.get(block, -1e18) > ttl_s:
                break
            hits += 1
        for block in blocks:
            last_seen[block] = ts
        hit_tokens += int(round(hits * size))
        written += int(round((len(blocks) - hits) * size))
        with_hit += hits > 0
    return hit_tokens, written, with_hit


def evaluate_caching(frame: pd.DataFrame, policy: Policy, prices: PriceMap, window_hours: float,
                     ttl_s: float = TTL_S) -> list[CachingEvaluation]:
    """One evaluation per (service, task_type, model) with prefix hashes in the window."""
    out = []
    frame = frame[frame["prefix_hashes"].notna()].sort_values("ts")
    for (service, task, model), rows in frame.groupby(["service", "task_type", "model"], sort=True):
        rules = policy.for_service(service)
        price = prices.get(model)
        hits, written, with_hit = replay(rows, ttl_s)
        already = int(rows["cached_tokens"].sum())
        savings = 0.0
        if price is not None:
            write_premium = (price.cache_write_input_usd_per_token or price.input_usd_per_token) \
                - price.input_usd_per_token
            savings = (hits * (price.input_usd_per_token - price.cached_input_usd_per_token)
                       - written * write_premium) * 24.0 / window_hours
        prompt = int(rows["prompt_tokens"].sum())
        recommended = already == 0 and savings > 0 and savings >= rules.min_savings_usd_per_day
        verdict = ("caching already on (cached_tokens logged)" if already else
                   f"enable prompt caching: {hits / max(prompt, 1):.0%} of prompt tokens cacheable, "
                   f"saves ${savings:.2f}/day" if recommended else
                   "no price for the model" if price is None else f"keep: saves ${savings:.2f}/day")
        out.append(CachingEvaluation(service, task, model, str(rows["provider"].iloc[0]), len(rows), prompt, hits,
                                     written, hits / max(prompt, 1),
                                     wilson_interval(ProportionStats(len(rows), with_hit), rules.confidence),
                                     already, savings, recommended, verdict))
    return out


def decide_caching(evaluations: list[CachingEvaluation], serving: dict[tuple[str, str], str],
                   latest: LatestConfigs, policy: Policy, now, ttl_s: float = TTL_S) -> list[Change]:
    """Enable caching on a task's route where its serving model would save, unless already published."""
    changes = []
    for ev in evaluations:
        found = route_of(latest, ev.service, ev.task_type)
        route = found.model_dump() if found else {}
        if not ev.recommended or serving.get((ev.service, ev.task_type)) != ev.model or route.get("prompt_caching"):
            continue
        changes.append(Change(
            service=ev.service, task_type=ev.task_type, strategy=Strategy.PROMPT_CACHING, from_model=ev.model,
            from_provider=ev.provider, to_model=ev.model, to_provider=ev.provider,
            expected_savings_usd_per_day=ev.expected_savings_usd_per_day, evidence=ev.to_dict(),
            **policy_decision(policy, ev.service, now), from_settings={"prompt_caching": None},
            to_settings={"prompt_caching": {"enabled": True, "ttl_s": ttl_s}}))
    return changes


def _evaluate(inputs: EvaluationInputs) -> list[CachingEvaluation]:
    if "prefix_hashes" not in inputs.valid.columns:
        return []
    return evaluate_caching(inputs.valid, inputs.settings.policy, inputs.prices, inputs.hours)


STRATEGY = register(StrategySpec(
    Strategy.PROMPT_CACHING, Scope.ROUTE_SETTINGS, precedence=40,
    guardrails=("min_savings_usd_per_day", "confidence"), columns=("prefix_hashes",), evaluate=_evaluate,
    decide=lambda evs, d: decide_caching(evs, d.serving, d.latest, d.settings.policy, d.now)))
