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


def test_every_deployment_entrypoint_loads_the_hourly_flow(deployments, monkeypatch):
    monkeypatch.chdir(REPO)
    for deployment in deployments:
        flow = load_flow_from_entrypoint(deployment["entrypoint"])
        assert flow.name == "hourly-optimization"
        schema = parameter_schema(flow).model_dump()
        # Typed parameters give the Prefect UI its run form; every preset parameter must exist.
        assert {"start", "end", "dry_run", "approval", "config_file"} <= set(schema["properties"])
        assert set(deployment.get("parameters", {})) <= set(schema["properties"])


def test_hourly_schedule_is_a_valid_utc_cron_every_hour(deployments):
    hourly = next(d for d in deployments if d["name"] == "hourly")
    (schedule,) = hourly["schedules"]
    cron = CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])
    assert cron.cron == "5 * * * *" and cron.timezone == "UTC"
