"""Cascade on paired answers whose cheap-model confidence separates right from wrong answers exactly."""

from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from llmopt.evaluate.cascade import decide_cascades, evaluate_cascades
from llmopt.prices import PriceMap
from llmopt.settings import Policy

NOW = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
CHEAP_COST, BIG_COST = 1e-4, 1e-3


def paired(n: int) -> pd.DataFrame:
    """n prompts answered by both; half with cheap confidence 0.8 (same quality), half 0.2 (quality 0)."""
    confident = np.arange(n) % 2 == 0
    common = {"service": "svc", "task_type": "t", "status": "ok", "variant": None}
    big = pd.DataFrame({**common, "prompt_id": np.arange(n), "model": "big", "provider": "openai",
                        "quality_score": 0.9, "confidence": np.nan, "cost_usd": BIG_COST, "latency_ms": 1000.0})
    cheap = pd.DataFrame({**common, "prompt_id": np.arange(n), "model": "cheap", "provider": "openai",
                          "quality_score": np.where(confident, 0.9, 0.0), "confidence": np.where(confident, 0.8, 0.2),
                          "cost_usd": CHEAP_COST, "latency_ms": 200.0, "variant": "shadow"})
    return pd.concat([big, cheap], ignore_index=True)


def test_threshold_escalates_exactly_the_unsure_answers_and_the_savings_follow():
    frame = paired(1000)
    [ev] = evaluate_cascades(frame, {("svc", "t"): ("big", "openai")}, Policy(), PriceMap({}), window_hours=1.0)
    assert ev.recommended and ev.threshold == pytest.approx(0.8)
    assert ev.quality_difference == (0.0, 0.0, 0.0)            # every unsure answer goes to the big model
    e = ev.escalation_rate
    assert 0.4 < e < 0.6                                        # the 0.2-confidence half of the held-out pairs
    # per request: cheap always, big when escalated; a day is 24 windows of the 1,000 production requests
    assert ev.expected_savings_usd_per_day == pytest.approx((BIG_COST - CHEAP_COST - e * BIG_COST) * 1000 * 24,
                                                            rel=1e-9)
    assert ev.latency_p95_ms == pytest.approx(1200.0) and ev.current_latency_p95_ms == pytest.approx(1000.0)
    [c] = decide_cascades([ev], Policy(), NOW)
    assert (c.to_model, c.to_settings) == ("cheap", {"cascade": {"escalate_to": {"model": "big", "provider": "openai"},
                                                                 "min_confidence": 0.8}})


def test_too_few_pairs_or_a_latency_guardrail_keep_the_route():
    [few] = evaluate_cascades(paired(300), {("svc", "t"): ("big", "openai")}, Policy(), PriceMap({}), 1.0)
    assert not few.recommended and "min_samples" in few.verdict
    slow = Policy(latency_p95_ms=1100)
    [ev] = evaluate_cascades(paired(1000), {("svc", "t"): ("big", "openai")}, slow, PriceMap({}), 1.0)
    assert not ev.recommended and "latency_p95_ms" in ev.verdict
