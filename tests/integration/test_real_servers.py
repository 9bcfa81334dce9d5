"""Against a real `prefect server` and `mlflow server` on localhost, the way users run llmopt.

1. `llmopt run` with PREFECT_API_URL set: the run, its artifacts and the MLflow run land on the servers.
2. `prefect deploy` of deployments/prefect.yaml, a triggered deployment run, and a process worker
   that executes it: the schedule/trigger path of the Prefect UI.
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from mlflow.tracking import MlflowClient

from llmopt.resources import open_resources
from tests import services
from tests.conftest import WINDOW_END, WINDOW_START

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    root = tmp_path_factory.mktemp("servers")
    prefect_url, stop_prefect = services.start_prefect_server(root / "prefect")
    mlflow_url, stop_mlflow = services.start_mlflow_server(root / "mlflow")
    yield prefect_url, mlflow_url
    stop_prefect()
    stop_mlflow()


def cli_env(prefect_url: str, home: Path) -> dict:
    return {**os.environ, "PREFECT_API_URL": prefect_url, "PREFECT_HOME": str(home)}


def flow_runs(prefect_url: str) -> list[dict]:
    return httpx.post(f"{prefect_url}/flow_runs/filter", json={"sort": "EXPECTED_START_TIME_DESC"}).json()


def test_cli_run_is_recorded_on_prefect_and_mlflow_servers(servers, write_settings, traffic_hour, tmp_path):
    prefect_url, mlflow_url = servers
    path, settings = write_settings(mlflow_tracking_uri=mlflow_url, mlflow_experiment="llmopt-integration")
    open_resources(settings).request_log.append(traffic_hour)

    done = subprocess.run([str(BIN / "llmopt"), "--config", str(path), "run", "--start", WINDOW_START.isoformat(),
                           "--end", WINDOW_END.isoformat(), "--json"], capture_output=True, text=True,
                          env=cli_env(prefect_url, tmp_path / "ph"), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["status"] == "published"

    run = next(r for r in flow_runs(prefect_url) if r["id"] == summary["prefect_flow_run_id"])
    assert run["state_type"] == "COMPLETED"
    artifacts = httpx.post(f"{prefect_url}/artifacts/filter",
                           json={"artifacts": {"flow_run_id": {"any_": [run["id"]]}}}).json()
    assert {a["key"] for a in artifacts} == {"routing-recommendations", "optimization-summary"}

    client = MlflowClient(mlflow_url)
    mlrun = client.get_run(summary["mlflow_run_id"])
    assert mlrun.info.status == "FINISHED" and mlrun.data.tags["prefect.flow_run_id"] == run["id"]
    assert mlrun.data.metrics["configs_published"] == 2
    assert "recommendations.json" in {a.path for a in client.list_artifacts(mlrun.info.run_id)}


def test_deployment_is_triggered_and_run_by_a_worker(servers, write_settings, traffic_hour, tmp_path):
    prefect_url, _ = servers
    path, settings = write_settings(policy={"approval": "manual"}, dask_workers=2)   # Dask named only in the file
    open_resources(settings).request_log.append(traffic_hour)
    env = cli_env(prefect_url, tmp_path / "ph")

    def prefect(*args: str, timeout: int = 300) -> str:
        done = subprocess.run([str(BIN / "prefect"), "--no-prompt", *args], capture_output=True, text=True,
                              cwd=REPO, env=env, timeout=timeout)
        assert done.returncode == 0, f"prefect {args}: {done.stdout[-2000:]} {done.stderr[-2000:]}"
        return done.stdout

    prefect("work-pool", "create", "llmopt", "--type", "process")
    prefect("deploy", "--prefect-file", "deployments/prefect.yaml", "--all")
    deployments = httpx.post(f"{prefect_url}/deployments/filter", json={}).json()
    hourly = httpx.get(f"{prefect_url}/deployments/name/hourly-optimization/hourly").json()
    assert sorted(d["name"] for d in deployments) == ["hourly", "hourly", "hourly", "manual-review"]
    assert [s["schedule"]["cron"] for s in hourly["schedules"]] == ["5 * * * *"]
    assert hourly["parameter_openapi_schema"]["properties"]["approval"]  # the UI's run form

    params = {"start": WINDOW_START.isoformat(), "end": WINDOW_END.isoformat(), "config_file": str(path)}
    prefect("deployment", "run", "hourly-optimization/hourly", "--params", json.dumps(params))
    prefect("worker", "start", "--pool", "llmopt", "--run-once", timeout=600)

    run = next(r for r in flow_runs(prefect_url) if r["deployment_id"] == hourly["id"]
               and r["parameters"].get("config_file") == str(path))
    assert run["state_type"] == "COMPLETED", run["state_name"]
    artifacts = httpx.post(f"{prefect_url}/artifacts/filter",
                           json={"artifacts": {"flow_run_id": {"any_": [run["id"]]}}}).json()
    summary_md = next(a for a in artifacts if a["key"] == "optimization-summary")["data"]
    assert "status        pending approval" in summary_md
    assert_read_on_other_processes(prefect_url, run["id"])


def assert_read_on_other_processes(prefect_url: str, flow_run_id: str) -> None:
    """The run's partitions were read by processes other than the flow's own (the Dask workers)."""
    artifacts = httpx.post(f"{prefect_url}/artifacts/filter",
                           json={"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}}).json()
    summary_md = next(a for a in artifacts if a["key"] == "optimization-summary")["data"]
    found = re.search(r"partitions read in (.+) \(flow in (\S+)\)", summary_md)
    assert found, summary_md
    assert found.group(2) not in found.group(1).split(", "), found.group(0)


def test_serve_registers_the_hourly_schedule_and_runs_triggered_flows(servers, write_settings, traffic_hour, tmp_path):
    prefect_url, _ = servers
    # the Dask cluster is named only in the settings file `serve` was given: its runs must use it
    path, settings = write_settings(policy={"approval": "manual"}, dask_workers=2)
    open_resources(settings).request_log.append(traffic_hour.iloc[::10])
    env = cli_env(prefect_url, tmp_path / "ph")
    serve = subprocess.Popen([str(BIN / "llmopt"), "--config", str(path), "serve"], env=env, cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        served = None
        while served is None and time.time() < deadline:
            served = next((d for d in httpx.post(f"{prefect_url}/deployments/filter", json={}).json()
                           if d["name"] == "hourly" and d["work_pool_name"] is None), None)
            time.sleep(1)
        assert served is not None, "llmopt serve did not register its deployment"
        assert [s["schedule"]["cron"] for s in served["schedules"]] == ["5 * * * *"]
        assert served["parameters"] == {"config_file": str(path)}

        created = httpx.post(f"{prefect_url}/deployments/{served['id']}/create_flow_run",
                             json={"parameters": {"start": WINDOW_START.isoformat(), "end": WINDOW_END.isoformat(),
                                                  "config_file": str(path)}}).json()
        state = None
        while time.time() < deadline + 240 and state not in ("COMPLETED", "FAILED", "CRASHED"):
            time.sleep(2)
            state = httpx.get(f"{prefect_url}/flow_runs/{created['id']}").json()["state_type"]
        assert state == "COMPLETED"
        assert_read_on_other_processes(prefect_url, created["id"])
    finally:
        serve.terminate()
        serve.wait(timeout=30)
