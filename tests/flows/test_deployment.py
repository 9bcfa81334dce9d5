"""deployments/prefect.yaml loads: its entrypoints resolve to flows and its schedules are valid."""

from pathlib import Path

import pytest
import yaml
from prefect.client.schemas.schedules import CronSchedule
from prefect.flows import load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def deployments() -> list[dict]:
    return yaml.safe_load((REPO / "deployments" / "prefect.yaml").read_text())["deployments"]


# flow name → the parameters its Prefect UI form must offer
FORMS = {"hourly-optimization": {"start", "end", "dry_run", "approval", "approval_timeout_minutes", "config_file"},
         "experiment-analysis": {"end", "dry_run", "approval", "config_file"},
         "post-change-monitor": {"now", "config_file"}}


def test_every_deployment_entrypoint_loads_its_flow_with_a_typed_form(deployments, monkeypatch):
    monkeypatch.chdir(REPO)
    names = []
    for deployment in deployments:
        flow = load_flow_from_entrypoint(deployment["entrypoint"])
        names.append(f"{flow.name}/{deployment['name']}")
        schema = parameter_schema(flow).model_dump()
        # Typed parameters give the Prefect UI its run form; every preset parameter must exist.
        assert FORMS[flow.name] <= set(schema["properties"])
        assert set(deployment.get("parameters", {})) <= set(schema["properties"])
    assert names == ["hourly-optimization/hourly", "hourly-optimization/manual-review", "experiment-analysis/hourly",
                     "post-change-monitor/hourly"]


@pytest.mark.parametrize("entrypoint, cron", [("flows/hourly_optimization.py:hourly_optimization", "5 * * * *"),
                                              ("flows/experiment_analysis.py:experiment_analysis", "35 * * * *"),
                                              ("flows/post_change_monitor.py:post_change_monitor", "50 * * * *")])
def test_hourly_schedules_are_valid_utc_crons(deployments, entrypoint, cron):
    hourly = next(d for d in deployments if d["name"] == "hourly" and d["entrypoint"] == entrypoint)
    (schedule,) = hourly["schedules"]
    parsed = CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])
    assert parsed.cron == cron and parsed.timezone == "UTC"
