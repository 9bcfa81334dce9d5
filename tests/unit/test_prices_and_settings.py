"""Price map lookups and cost; the settings object (file, environment, per-service overrides)."""

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from llmopt.settings import Settings


def test_request_cost_uses_uncached_cached_and_output_prices(prices):
    # gpt-4o: 2.5e-6 in, 1.25e-6 cached in, 1e-5 out
    cost = prices.request_cost_usd("gpt-4o", 1000, 100, 200)
    assert cost == pytest.approx(800 * 2.5e-6 + 200 * 1.25e-6 + 100 * 1e-5, rel=1e-12)   # 0.00325


def test_cached_price_falls_back_to_input_price_and_unknown_model_is_nan(prices):
    # mistral-small has no cache_read price in the map: cached tokens cost the input price.
    assert prices.get("mistral/mistral-small-latest").cached_input_usd_per_token == 1e-07
    assert np.isnan(prices.request_cost_usd("no-such-model", 10, 10, 0))


def test_fill_cost_keeps_logged_cost_and_prices_the_rest(prices):
    frame = pd.DataFrame({"model": ["gpt-4o-mini", "gpt-4o-mini", "nope"], "prompt_tokens": [1000, 1000, 5],
                          "completion_tokens": [100, 100, 5], "cached_tokens": [0, 0, 0],
                          "cost_usd": [0.5, np.nan, np.nan]})
    filled = prices.fill_cost(frame)
    assert filled.iloc[0] == 0.5
    assert filled.iloc[1] == pytest.approx(1000 * 1.5e-7 + 100 * 6e-7, rel=1e-12)
    assert np.isnan(filled.iloc[2])


def test_settings_file_env_and_service_overrides(tmp_path, monkeypatch):
    path = tmp_path / "llmopt.yaml"
    path.write_text("requests_table: calls\npolicy:\n  quality_margin: 0.03\n  services:\n"
                    "    support: {latency_p95_ms: 4000, approval: manual}\n")
    monkeypatch.setenv("LLMOPT_POLICY__MIN_SAMPLES", "500")
    monkeypatch.setenv("LLMOPT_MLFLOW_EXPERIMENT", "prod")
    settings = Settings.load(path)
    assert settings.requests_table == "calls" and settings.mlflow_experiment == "prod"
    support, other = settings.policy.for_service("support"), settings.policy.for_service("search")
    assert (support.latency_p95_ms, support.approval, support.quality_margin, support.min_samples) == \
        (4000, "manual", 0.03, 500)
    assert (other.latency_p95_ms, other.approval) == (None, "auto")


def test_bad_settings_name_the_field(tmp_path):
    with pytest.raises(ValidationError, match="policy.confidence"):
        Settings(policy={"confidence": 1.5})
    with pytest.raises(ValidationError, match="requests_table"):
        Settings(requests_table="llm_requests; drop table x")
    with pytest.raises(ValidationError, match="policy.services.support.latency_p95_ms"):
        Settings(policy={"services": {"support": {"latency_p95_ms": -1}}})
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        Settings.load(tmp_path / "missing.yaml")
