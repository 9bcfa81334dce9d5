"""Reliability, max_tokens and prompt caching on tiny frames with hand-computed numbers (tolerance 1e-9)."""

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from llmopt.evaluate.max_tokens import decide_max_tokens, evaluate_max_tokens
from llmopt.evaluate.prompt_caching import decide_caching, evaluate_caching, replay
from llmopt.evaluate.reliability import decide_reliability, evaluate_reliability, retries_for
from llmopt.prices import ModelPrice, PriceMap
from llmopt.publish.build import successor_config
from llmopt.settings import Guardrails, Policy

T0 = datetime(2026, 11, 20, 10, tzinfo=timezone.utc)
NOW = datetime(2026, 11, 20, 11, tzinfo=timezone.utc)
Z = sps.norm.ppf(0.975)


def wilson(n: int, k: int) -> tuple[float, float]:
    """Wilson score interval at 95%, written out: (p + z²/2n ± z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n)."""
    p = k / n
    centre, half = p + Z * Z / (2 * n), Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return (centre - half) / (1 + Z * Z / n), (centre + half) / (1 + Z * Z / n)


def rows(n: int, **columns) -> pd.DataFrame:
    base = {"service": "svc", "task_type": "t", "provider": "openai", "model": "m", "status": "ok",
            "finish_reason": "stop", "quality_score": np.nan, "latency_ms": 100.0, "prompt_tokens": 100,
            "completion_tokens": 10, "cached_tokens": 0, "max_tokens": 1024,
            "ts": [T0 + timedelta(seconds=i) for i in range(n)]}
    base.update(columns)
    return pd.DataFrame({k: v if np.ndim(v) else [v] * n for k, v in base.items()})


def test_reliability_timeout_retries_and_no_fallback():
    ok = rows(200, latency_ms=np.arange(1, 201) * 100.0)
    failed = rows(10, status="error", latency_ms=50.0, finish_reason=None)
    [ev] = evaluate_reliability(pd.concat([ok, failed], ignore_index=True), Policy())
    # p99 of 100..20,000 ms by linear interpolation: 19,800 + 0.01·100 = 19,801; ×1.2 = 23,761.2 → 24,000 (0.5 s steps)
    assert ev.timeout_ms == 24_000.0
    low, high = wilson(210, 10)
    assert ev.failure_rate.estimate == pytest.approx(10 / 210, abs=1e-12)
    assert (ev.failure_rate.low, ev.failure_rate.high) == pytest.approx((low, high), abs=1e-9)
    assert high ** 2 <= 0.05 < high               # one retry brings p⁺ under max_error_rate
    assert ev.retries == 1 and ev.fallbacks == ()
    [c] = decide_reliability([ev], {}, Policy(), NOW)
    assert c.to_settings == {"timeout_s": 24.0, "retries": 1, "fallbacks": []} and c.state == "approved"
    assert c.from_settings == {"timeout_s": None, "retries": 0, "fallbacks": []}
    published = {"svc": successor_config("svc", {"model_settings": {"m": {"provider": "openai", **c.to_settings}}},
                                         {}, [], 1, NOW, {})}
    assert decide_reliability([ev], published, Policy(), NOW) == []       # already published: no change


def test_retries_rule():
    rules = Guardrails(max_error_rate=0.05)
    assert [retries_for(p, rules) for p in (0.04, 0.2, 0.3, 0.49, 0.5)] == [0, 1, 2, 3, 0]


def test_max_tokens_limit_truncation_and_savings():
    frame = rows(400, completion_tokens=np.arange(1, 401), max_tokens=1024)
    prices = PriceMap({"m": ModelPrice("m", "openai", 1e-6, 4e-6, 5e-7)})
    [ev] = evaluate_max_tokens(frame, Policy(), prices, window_hours=1.0, reserved_output_providers=["openai"])
    # 99.5% quantile of 1..400: 398 + 0.005·… = 398.005; ×1.1 = 437.8; up to a multiple of 64 → 448
    assert ev.proposed_max_tokens == 448
    assert ev.expected_truncation.estimate == 0.0
    assert ev.expected_savings_usd_per_day == pytest.approx((1024 - 448) * 4e-6 * 400 * 24, rel=1e-12)
    [c] = decide_max_tokens([ev], {}, Policy(), NOW)
    assert (c.from_settings, c.to_settings) == ({"max_tokens": 1024}, {"max_tokens": 448})
    few = evaluate_max_tokens(frame.head(100), Policy(), prices, 1.0, [])[0]
    assert few.proposed_max_tokens is None and "min_samples" in few.verdict


def test_prompt_cache_replay_counts_hits_within_the_ttl():
    frame = pd.DataFrame({"ts": [T0, T0 + timedelta(seconds=10), T0 + timedelta(seconds=400)],
                          "prompt_tokens": [300, 300, 200], "prefix_hashes": ["a b c", "a b d", "a x"]})
    # 1st: all 3 blocks written (300); 2nd: a, b hit (200), d written (100); 3rd, 390 s after a: TTL 300 s passed
    assert replay(frame, ttl_s=300) == (200, 300 + 100 + 200, 1)


def test_prompt_caching_savings_and_decision():
    frame = rows(3, prompt_tokens=[300, 300, 300], prefix_hashes=["a b c", "a b c", "a b c"])
    prices = PriceMap({"m": ModelPrice("m", "openai", 1e-6, 4e-6, 2.5e-7)})
    [ev] = evaluate_caching(frame, Policy(), prices, window_hours=2.0)
    hits = 600                                   # requests 2 and 3 hit all three 100-token blocks
    assert ev.expected_savings_usd_per_day == pytest.approx(hits * (1e-6 - 2.5e-7) * 24 / 2, rel=1e-12)
    [c] = decide_caching([ev], {("svc", "t"): "m"}, {}, Policy(), NOW)
    assert c.to_settings == {"prompt_caching": {"enabled": True, "ttl_s": 300.0}}
    assert decide_caching([ev], {("svc", "t"): "other"}, {}, Policy(), NOW) == []   # not the serving model
