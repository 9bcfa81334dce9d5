"""Exploration candidates when none are named: the price map's proposal, derived by hand from the bundled map, and
the reason every task that is not explored gives."""

import functools
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from llmopt.domain import Window
from llmopt.evaluate.exploration import evaluate_exploration
from llmopt.evaluate.exploration_candidates import canonical_name, propose_candidates
from llmopt.evaluate.registry import EvaluationInputs
from llmopt.evaluate.routing import evaluate_routing
from llmopt.fit import FittedModels, fit_models
from llmopt.prices import ModelPrice, PriceMap
from llmopt.settings import Policy, Settings

END = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)


def test_the_proposal_is_the_closest_cheaper_chat_models_of_the_provider(prices):
    # gpt-4o on 1,000 prompt / 100 completion tokens: 1000·2.5e-6 + 100·1e-5 = $0.0035 per request. Cheaper OpenAI
    # chat models of the bundled map, per request: gpt-3.5-turbo-16k 1000·3e-6 + 100·4e-6 = 0.0034 (context 16,385
    # < gpt-4o's 128,000: out), gpt-4.1 0.002 + 0.0008 = 0.0028, gpt-3.5-turbo 0.0017 (16,385: out),
    # o1-mini 0.0011 + 0.00044 = 0.00154, gpt-4.1-mini 0.0004 + 0.00016 = 0.00056, gpt-4o-mini 0.00015 + 0.00006 =
    # 0.00021, gpt-4.1-nano 0.0001 + 0.00004 = 0.00014; gpt-5*, o3*, o4-mini are reasoning models (out), the
    # audio/realtime/search previews are special purpose (out), ft:gpt-4o-mini-2024-07-18 is a fine-tune (out),
    # gpt-4o-2024-08-06 costs the same (not cheaper), and openai/gpt-4.1, gpt-4.1-2025-04-14 are gpt-4.1's aliases.
    found = propose_candidates(prices, "gpt-4o", [1000], [0], 100.0, limit=3, today=date(2026, 11, 20))
    assert [(p.model, p.provider) for p in found] == [("gpt-4.1", "openai"), ("o1-mini", "openai"),
                                                     ("gpt-4.1-mini", "openai")]
    assert [p.cost_usd_per_request for p in found] == pytest.approx([0.0028, 0.00154, 0.00056], rel=1e-12)
    everything = propose_candidates(prices, "gpt-4o", [1000], [0], 100.0, limit=10, today=date(2026, 11, 20))
    assert [p.model for p in everything] == ["gpt-4.1", "o1-mini", "gpt-4.1-mini", "gpt-4o-mini", "gpt-4.1-nano"]
    # a minimum saving lowers the ceiling: at most $0.0015 per request leaves the three cheapest
    capped = propose_candidates(prices, "gpt-4o", [1000], [0], 100.0, 3, date(2026, 11, 20),
                                max_cost_usd_per_request=0.0015)
    assert [p.model for p in capped] == ["gpt-4.1-mini", "gpt-4o-mini", "gpt-4.1-nano"]
    # the token mix decides the price: prompts of 1,000 and 3,000 tokens with 0 and 2,000 cached (means 2,000 and
    # 1,000): gpt-4.1 1000·2e-6 + 1000·5e-7 + 100·8e-6 = 0.0033, o1-mini 0.0011 + 0.00055 + 0.00044 = 0.00209
    mixed = propose_candidates(prices, "gpt-4o", [1000, 3000], [0, 2000], 100.0, 2, date(2026, 11, 20))
    assert [(p.model, p.cost_usd_per_request) for p in mixed] == [("gpt-4.1", pytest.approx(0.0033, rel=1e-12)),
                                                                 ("o1-mini", pytest.approx(0.00209, rel=1e-12))]
    # nothing non-reasoning of OpenAI's is cheaper than gpt-4.1-nano
    assert propose_candidates(prices, "gpt-4.1-nano", [1000], [0], 100.0, 3, date(2026, 11, 20)) == []


def test_the_proposal_keeps_to_the_mode_the_family_the_kind_and_the_living():
    price = lambda model, provider, inp, **kw: ModelPrice(model, provider, inp, 4 * inp, inp, None,  # noqa: E731
                                                          **{"mode": "chat", "max_input_tokens": 8000, **kw})
    prices = PriceMap({p.model: p for p in [
        price("big", "vertex_ai-language-models", 1e-5),
        price("vertex_ai/claude-small@001", "vertex_ai-anthropic_models", 1e-6),    # same family: in
        price("small-embed", "vertex_ai-language-models", 1e-7, mode="embedding"),  # another mode
        price("other-small", "openai", 1e-7),                                       # another provider
        price("old-small", "vertex_ai-language-models", 2e-6, deprecation_date="2026-01-31"),
        price("thinker", "vertex_ai-language-models", 3e-6, supports_reasoning=True),
        price("short-context", "vertex_ai-language-models", 4e-6, max_input_tokens=4000),
        price("free-preview", "vertex_ai-language-models", 0.0),
        price("mid-0613", "vertex_ai-language-models", 5e-6),
        price("mid", "vertex_ai-language-models", 5e-6)]})                        # mid-0613's alias: shorter
    found = propose_candidates(prices, "big", [100], [0], 10.0, limit=5, today=date(2026, 6, 1))
    # big: 100·1e-5 + 10·4e-5 = 0.0014; mid 0.0005 + 0.0002 = 0.0007; claude-small 0.0001 + 0.00004 = 0.00014
    assert [(p.model, p.cost_usd_per_request) for p in found] == [
        ("mid", pytest.approx(0.0007, rel=1e-12)), ("vertex_ai/claude-small@001", pytest.approx(0.00014, rel=1e-12))]


@pytest.mark.parametrize("model, name", [
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"), ("openai/gpt-4.1", "gpt-4.1"), ("gpt-3.5-turbo-0613", "gpt-3.5-turbo"),
    ("claude-3-haiku-20240307", "claude-3-haiku"), ("claude-3-haiku-latest", "claude-3-haiku"),
    ("vertex_ai/claude-3-haiku@20240307", "claude-3-haiku"), ("gpt-3.5-turbo-16k", "gpt-3.5-turbo-16k")])
def test_aliases_and_dated_snapshots_share_a_name(model, name):
    assert canonical_name(model) == name


@functools.cache
def one_model_window(requests: int, prices: PriceMap, model: str = "gpt-4o") -> tuple[pd.DataFrame, FittedModels]:
    """One task's hour, all on `model` (1000 prompt / 100 completion tokens), and its fitted models."""
    i = np.arange(requests)
    frame = pd.DataFrame({
        "request_id": [f"r{k}" for k in i], "service": "svc", "task_type": "t", "provider": "openai", "model": model,
        "prompt_tokens": 1000, "cached_tokens": 0, "completion_tokens": 100, "latency_ms": 1000.0 + i % 20,
        "status": "ok", "cost_usd": np.nan, "quality_score": np.where(i % 2 == 0, 0.9, 0.8)})
    return frame, fit_models(frame, prices)


def explore(window: tuple[pd.DataFrame, FittedModels], prices: PriceMap, **policy):
    frame, models = window
    settings = Settings(policy=Policy(**policy))
    routing = evaluate_routing(frame, models, prices, settings.policy, {}, 1.0)
    inputs = EvaluationInputs(settings, prices, Window(END - timedelta(hours=1), END), frame, routing, {},
                              cells=models.cells)
    (result,) = evaluate_exploration(inputs)
    return routing[0], result


def test_all_traffic_on_one_model_starts_an_exploration_of_the_proposed_models(prices):
    routing, result = explore(one_model_window(2000, prices), prices)
    assert routing.verdict == "keep: no candidates: no other model has traffic on this task (gpt-4o served all of it)"
    assert result.action == "start"
    # largest savings first: (0.0035 − cost) × 2,000 requests/h × 24 h
    assert [(c.model, c.source) for c in result.candidates] == [
        ("gpt-4.1", "proposed"), ("o1-mini", "proposed"), ("gpt-4.1-mini", "proposed")]
    savings = {c.model: c.savings_usd_per_day for c in result.candidates}
    assert savings == pytest.approx({"gpt-4.1": 0.0007 * 48_000, "o1-mini": 0.00196 * 48_000,
                                     "gpt-4.1-mini": 0.00294 * 48_000}, rel=1e-3)
    assert result.reason == ("3 cheaper candidate(s) lack evidence: gpt-4.1-mini, o1-mini, gpt-4.1 "
                             "(3 proposed from the price map)")
    # the safety cap at 2,000 requests/h: 0.05 − 3.72·√(0.05·0.95/2000)
    assert 0 < sum(result.shares.values()) <= 0.05 - 3.72 * np.sqrt(0.05 * 0.95 / 2000) + 1e-12


def test_allowed_models_still_restrict_and_named_candidates_are_kept(prices):
    _, allowed = explore(one_model_window(2000, prices), prices, allowed_models=["gpt-4o", "gpt-4o-mini"])
    assert [(c.model, c.source) for c in allowed.candidates] == [("gpt-4o-mini", "allowed_models")]
    _, named = explore(one_model_window(2000, prices), prices, exploration_candidates=["gpt-4"])
    assert named.action == "none"
    assert named.reason == ("no candidates: none of exploration_candidates (gpt-4) is priced and cheaper than gpt-4o "
                            "on this task's token mix")


def test_every_task_that_is_not_explored_says_why(prices):
    _, cheapest = explore(one_model_window(2000, prices, "gpt-4.1-nano"), prices)
    assert cheapest.action == "none"
    assert cheapest.reason == ("no candidates: no model seen and no chat model of provider openai in the price map "
                               "is cheaper than gpt-4.1-nano on this task's token mix; set exploration_candidates")
    _, unpriced = explore(one_model_window(2000, prices, "in-house-llm"), prices)
    assert unpriced.reason == ("no candidates: in-house-llm is not in the price map, so no saving can be priced "
                               "against it; add it to the price map (prices_path)")
    # 200 requests/h: the safety headroom needs more than 3.72²·0.95/0.05 = 262.9 requests/h at a 5% cap
    _, quiet = explore(one_model_window(200, prices), prices)
    assert quiet.action == "none" and quiet.shares == {}
    assert quiet.reason == ("cap reached: the task's 200 requests/hour leave no share under exploration_max_share "
                            "0.05 once its safety headroom is kept (that needs more than 263/hour)")
    _, thrifty = explore(one_model_window(2000, prices), prices, min_savings_usd_per_day=200)
    # the largest saving, gpt-4.1-nano's (0.0035 − 0.00014) × 48,000 = $161.28/day, is below $200
    assert thrifty.reason == ("no candidates: no model seen and no chat model of provider openai in the price map "
                              "is cheaper than gpt-4o by more than min_savings_usd_per_day $200.00 on this task's "
                              "token mix; set exploration_candidates")
