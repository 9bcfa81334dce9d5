"""Budget forecasts: a daily pattern is learned from hourly spend; a breach lists the changes that fix it."""

import numpy as np
import pandas as pd
import pytest

from llmopt.evaluate.budget import forecast_budgets


def hourly(days: int, daily_usd: float, trend_per_day: float = 0.0, seed: int = 3) -> pd.DataFrame:
    hours = pd.date_range("2026-11-01", periods=days * 24, freq="h", tz="UTC")
    shape = 1 + 0.6 * np.sin(2 * np.pi * (hours.hour - 6) / 24)           # busy afternoons, quiet nights
    level = daily_usd / 24 * shape * (1 + trend_per_day * np.arange(len(hours)) / 24 / daily_usd * 24)
    noise = np.random.default_rng(seed).normal(1, 0.05, len(hours))
    return pd.DataFrame({"service": "support", "hour": hours, "spend_usd": level * noise})


def test_a_daily_pattern_is_forecast_within_five_percent():
    [f] = forecast_budgets(hourly(14, 2400.0), {"support": 3000.0}, 0.95, [])
    assert f.forecast_next_24h_usd == pytest.approx(2400.0, rel=0.05)
    assert f.forecast_low_usd < f.forecast_next_24h_usd < f.forecast_high_usd and not f.breach
    # the hourly shape is kept: the forecast peaks in the afternoon (hour 12 UTC ± 2)
    assert abs(int(np.argmax(f.hourly_forecast)) - 12) <= 2


def test_a_projected_breach_lists_the_changes_that_bring_it_under():
    changes = [{"service": "support", "task_type": "a", "expected_savings_usd_per_day": 150.0},
               {"service": "support", "task_type": "b", "expected_savings_usd_per_day": 400.0},
               {"service": "support", "task_type": "c", "expected_savings_usd_per_day": 90.0}]
    [f] = forecast_budgets(hourly(14, 2400.0), {"support": 1900.0}, 0.95, changes)
    assert f.breach and [c["task_type"] for c in f.fixes] == ["b", "a"]     # largest first, until under
    assert "over budget" in f.verdict


def test_too_little_history_gives_no_forecast_yet():
    [f] = forecast_budgets(hourly(1, 2400.0), {"support": 100.0}, 0.95, [])
    assert not f.breach and "no forecast yet" in f.verdict


def test_the_spend_forecast_plot_renders():
    import io

    from matplotlib import image

    from llmopt.track.report import plot_spend_forecast

    forecasts = forecast_budgets(hourly(14, 2400.0), {"support": 1900.0}, 0.95, [])
    pixels = image.imread(io.BytesIO(plot_spend_forecast(forecasts)))
    assert pixels.shape[0] > 200 and pixels.shape[1] > 600 and pixels[..., :3].std() > 0.05
