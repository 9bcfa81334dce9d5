"""The routing strategy on a hand-built window whose answers can be computed by hand."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from llmopt.fit import fit_models
from llmopt.evaluate.routing import evaluate_routing, mixture_quantile
from llmopt.settings import Policy


def model_rows(model: str, n: int, high: float, low: float, errors: int = 0) -> pd.DataFrame:
    """n requests, 1000 prompt / 100 completion tokens, quality alternating high/low, first `errors` failed."""
    i = np.arange(n)
    status = np.where(i < errors, "error", "ok")
    return pd.DataFrame({
        "request_id": [f"{model}-{k}" for k in i], "service": "svc", "task_type": "t",
        "provider": "openai", "model": model, "prompt_tokens": 1000, "cached_tokens": 0,
        "completion_tokens": np.where(status == "ok", 100, 0),
        "latency_ms": 1000.0 * (1 + (i % 20) / 20), "status": status, "cost_usd": np.nan,
        "quality_score": np.where(status == "ok", np.where(i % 2 == 0, high, low), np.nan)})


@pytest.fixture(scope="module")
def window(prices):
    frame = pd.concat([model_rows("gpt-4o", 2000, 0.90, 0.80), model_rows("gpt-4o-mini", 400, 0.89, 0.79),
                       model_rows("gpt-4.1-nano", 400, 0.89, 0.79, errors=40)], ignore_index=True)
    return frame, fit_models(frame, prices)


def evaluate(window, prices, **policy):
    frame, models = window
    (result,) = evaluate_routing(frame, models, prices, Policy(**policy), current_routes={}, window_hours=1.0)
    return result, {c.model: c for c in result.candidates}


def test_recommends_the_cheapest_candidate_that_passes_every_guardrail(window, prices):
    result, cands = evaluate(window, prices)
    assert result.current_model == "gpt-4o" and result.current_source == "window traffic"
    assert result.recommended.model == "gpt-4o-mini"
    q = lambda hi, lo, n: np.where(np.arange(n) % 2 == 0, hi, lo)  # noqa: E731
    ci = sps.ttest_ind(q(0.89, 0.79, 400), q(0.90, 0.80, 2000), equal_var=False).confidence_interval(0.95)
    diff = cands["gpt-4o-mini"].quality_difference
    assert diff.estimate == pytest.approx(-0.01, abs=1e-12)
    assert (diff.low, diff.high) == (pytest.approx(ci.low, abs=1e-9), pytest.approx(ci.high, abs=1e-9))
    # (1000·2.5e-6 + 100·1e-5) − (1000·1.5e-7 + 100·6e-7) USD per request, × 2,800 requests/h × 24 h
    assert result.recommended.expected_savings_usd_per_day == pytest.approx((0.0035 - 0.00021) * 2800 * 24, rel=1e-4)
    # nano is cheaper still, but its error rate (40/400) breaks max_error_rate.
    assert cands["gpt-4.1-nano"].blocked_by == (
        f"max_error_rate: upper bound of error rate {cands['gpt-4.1-nano'].error_rate.high:.4f} > 0.05",)
    assert cands["gpt-4.1-nano"].error_rate.high == pytest.approx(0.13335, abs=1e-4)


@pytest.mark.parametrize("policy, blocked_prefix", [
    ({"quality_margin": 0.005}, "quality_margin: lower bound of quality difference"),
    ({"min_samples": 401}, "min_samples: scored requests 400 (candidate) / 2000 (current) < 401"),
    ({"latency_p95_ms": 1500}, "latency_p95_ms: predicted p95"),
    ({"allowed_models": ["gpt-4o"]}, "allowed_models: not in the allowed list"),
])
def test_each_guardrail_alone_keeps_the_current_model(window, prices, policy, blocked_prefix):
    base = {"min_samples": 300}
    result, cands = evaluate(window, prices, **{**base, **policy})
    assert result.recommended is None
    assert result.verdict == "keep: no candidate passes every guardrail"
    assert any(b.startswith(blocked_prefix) for b in cands["gpt-4o-mini"].blocked_by)


def test_min_savings_keeps_the_current_model(window, prices):
    result, _ = evaluate(window, prices, min_savings_usd_per_day=1_000)
    assert result.recommended is None and result.verdict.startswith("keep: best saving $221.")


def test_published_route_is_the_current_model(window, prices):
    frame, models = window
    (result,) = evaluate_routing(frame, models, prices, Policy(), {("svc", "t"): "gpt-4o-mini"}, 1.0)
    assert result.current_model == "gpt-4o-mini" and result.current_source == "published config"
    assert result.recommended is None          # nothing eligible is cheaper than the mini model


def test_mixture_quantile_of_identical_requests_is_their_quantile():
    p50, p95 = np.full(100, 1000.0), np.full(100, 2000.0)
    assert mixture_quantile(p50, p95) == pytest.approx(2000.0, rel=1e-5)
    # Half the traffic twice as slow: the mixture p95 lies between the two p95s.
    mixed = mixture_quantile(np.r_[p50[:50], 2 * p50[50:]], np.r_[p95[:50], 2 * p95[50:]])
    assert 2000.0 < mixed < 4000.0
