"""Budget through the flow: hourly spend summed in the database, a projected breach, the forecast plot."""

from datetime import timedelta

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from llmopt.flows.hourly_optimization import hourly_optimization
from llmopt.resources import open_resources
from llmopt.extract.synthetic import generate_requests
from tests.conftest import WINDOW_END, WINDOW_START

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_a_projected_budget_breach_is_flagged_with_its_forecast(write_settings, prices):
    # the week below spends ≈ $9/day on support: a $6 budget is breached, a $20 one is not
    path, settings = write_settings(policy={"services": {"support": {"budget_usd_per_day": 6.0},
                                                         "search": {"budget_usd_per_day": 20.0}}})
    log = open_resources(settings).request_log
    frames = [generate_requests(400 if (WINDOW_END - timedelta(hours=h)).hour in range(8, 20) else 150, hours=1,
                                seed=h, end=WINDOW_END - timedelta(hours=h), prices=prices) for h in range(7 * 24)]
    history = pd.concat(frames, ignore_index=True)
    log.append(history)

    summary = hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path))

    budgets = {b["service"]: b for b in summary["budget"]}
    support = budgets["support"]
    # by hand: the week's support spend per day (cost logged, else priced the same way)
    history = history.assign(cost=prices.fill_cost(history))
    per_day = history.loc[history["service"] == "support", "cost"].sum() / 7
    assert support["forecast_next_24h_usd"] == pytest.approx(per_day, rel=0.10)
    assert support["breach"] and "over budget $6.00" in support["verdict"]
    assert budgets["search"]["breach"] is False and budgets["search"]["forecast_next_24h_usd"] < 20.0
    assert budgets["coding"]["budget_usd_per_day"] is None and not budgets["coding"]["breach"]
    artifacts = {a.path for a in MlflowClient(settings.mlflow_tracking_uri).list_artifacts(summary["mlflow_run_id"],
                                                                                           "report")}
    assert "report/spend_forecast.png" in artifacts
