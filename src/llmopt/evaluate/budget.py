"""Budget: forecast each service's spend for the next 24 hours and flag a projected breach.

Model (per service): hourly spend ~ Ridge regression on hour-of-day (one-hot), day-of-week (one-hot, with
≥ 14 days of history) and a linear trend, fitted on the history before the window's end. The next 24
hours are summed; the interval adds ± z·σ·√24 with σ the residual standard deviation (hours treated
as independent). A breach is flagged when the forecast exceeds `budget_usd_per_day`; the run's
changes for that service are listed, largest saving first, until they would bring it back under.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from llmopt.lazy_modules import scipy_stats as sps

MIN_HOURS = 48


@dataclass(frozen=True)
class BudgetForecast:
    service: str
    history_hours: int
    spend_last_24h_usd: float
    forecast_next_24h_usd: float
    forecast_low_usd: float
    forecast_high_usd: float
    budget_usd_per_day: float | None
    breach: bool
    fixes: list[dict] = field(default_factory=list)      # changes that would bring it back under
    verdict: str = ""
    hourly_history: list[float] = field(default_factory=list)
    hourly_forecast: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def features(hours: pd.DatetimeIndex, origin: pd.Timestamp, weekly: bool) -> np.ndarray:
    cols = [np.eye(24)[hours.hour], ((hours - origin) / pd.Timedelta(days=1)).to_numpy()[:, None]]
    if weekly:
        cols.append(np.eye(7)[hours.dayofweek])
    return np.hstack(cols)


def forecast_service(service: str, hourly: pd.Series, budget: float | None, confidence: float,
                     changes: list[dict]) -> BudgetForecast:
    """Forecast one service from its hourly spend (index: hour starts, UTC; missing hours are zero)."""
    full = pd.date_range(hourly.index.min(), hourly.index.max(), freq="h")
    y = hourly.reindex(full, fill_value=0.0)
    last = float(y.iloc[-24:].sum())
    if len(y) < MIN_HOURS:
        return BudgetForecast(service, len(y), last, math.nan, math.nan, math.nan, budget, False,
                              verdict=f"no forecast yet: {len(y)} hours of history < {MIN_HOURS}",
                              hourly_history=y.round(4).tolist())
    weekly = len(y) >= 14 * 24
    from sklearn.linear_model import Ridge     # imported when a forecast is fitted (not on every run)

    model = Ridge(alpha=1.0).fit(features(full, full[0], weekly), y.to_numpy())
    future = pd.date_range(full[-1] + pd.Timedelta(hours=1), periods=24, freq="h")
    ahead = np.maximum(model.predict(features(future, full[0], weekly)), 0.0)
    sigma = float(np.std(y.to_numpy() - model.predict(features(full, full[0], weekly)), ddof=1))
    z = float(sps.norm.ppf((1 + confidence) / 2))
    total, half = float(ahead.sum()), z * sigma * math.sqrt(24)
    breach = budget is not None and total > budget
    fixes, remaining = [], total
    if breach:
        for change in sorted(changes, key=lambda c: -c["expected_savings_usd_per_day"]):
            if remaining <= budget:
                break
            if change["expected_savings_usd_per_day"] > 0:
                fixes.append(change)
                remaining -= change["expected_savings_usd_per_day"]
    verdict = (f"projected ${total:,.2f}/day over budget ${budget:,.2f}" + (
        f"; {len(fixes)} change(s) bring it to ${remaining:,.2f}" if fixes else "; no change found that fixes it")
        if breach else f"projected ${total:,.2f}/day" + (f" within budget ${budget:,.2f}" if budget else ""))
    return BudgetForecast(service, len(y), last, total, max(0.0, total - half), total + half, budget, breach,
                          fixes, verdict, y.round(4).tolist()[-7 * 24:], ahead.round(4).tolist())


def forecast_budgets(hourly: pd.DataFrame, budgets: dict[str, float | None], confidence: float,
                     changes: list[dict]) -> list[BudgetForecast]:
    """`hourly`: columns service, hour (UTC), spend_usd. One forecast per service."""
    out = []
    for service, rows in hourly.groupby("service", sort=True):
        series = rows.set_index(pd.DatetimeIndex(pd.to_datetime(rows["hour"], utc=True)))["spend_usd"].astype(float)
        out.append(forecast_service(service, series.sort_index(), budgets.get(service), confidence,
                                    [c for c in changes if c["service"] == service]))
    return out
