"""Experiments through the flows: a ship becomes a published change; a new experiment is published for gateways."""

from datetime import timedelta

import pytest
from mlflow.tracking import MlflowClient

from tests.gateway import read_latest
from llmopt.flows.experiment_analysis import experiment_analysis
from llmopt.flows.hourly_optimization import hourly_optimization
from llmopt.client import assign
from llmopt.publish.service_config import check_config, load_schema
from llmopt.publish.publishing import latest_config, published_versions
from llmopt.experiments.simulation import ArmTruth, experiment_requests
from llmopt.resources import open_resources
from tests.conftest import WINDOW_END, WINDOW_START

pytestmark = pytest.mark.usefixtures("prefect_harness")

EXPERIMENT = {"id": "summarize-mini", "service": "search", "task_type": "summarize", "control": "current",
              "variants": [{"name": "current", "weight": 0.5, "model": "gpt-4o", "provider": "openai"},
                           {"name": "mini", "weight": 0.5, "model": "gpt-4o-mini", "provider": "openai"}],
              "primary_metric": "cost_per_request",
              "guardrails": [{"metric": "quality", "margin": 0.02},
                             {"metric": "error_rate", "margin": 0.01, "relative": False}],
              "min_runtime_hours": 12, "salt": "2026-11", "start": (WINDOW_END - timedelta(hours=24)).isoformat()}


def test_a_winning_experiment_ships_through_decide_and_publish(write_settings, traffic_hour):
    path, settings = write_settings(experiments=[EXPERIMENT])
    definition = settings.experiments[0]
    log = open_resources(settings).request_log
    log.append(traffic_hour.iloc[::10])
    log.append(experiment_requests(definition, {"current": ArmTruth(0.88), "mini": ArmTruth(0.878)},
                                   definition.start, 24, 400, seed=5))

    summary = hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path))

    [call] = summary["experiments"]
    assert call["call"] == "ship mini" and call["hours_run"] == 24.0
    held = next(r for r in summary["recommendations"] if r["task_type"] == "summarize")
    assert "held: experiment summarize-mini" in held["verdict"]
    shipped = next(c for c in summary["changes"] if c["strategy"] == "experiment")
    assert (shipped["from"], shipped["to"], shipped["state"]) == ("gpt-4o", "gpt-4o-mini", "approved")
    assert shipped["expected_savings_usd_per_day"] > 0

    store = open_resources(settings).config_store
    search = read_latest(store, "search")
    check_config(search, load_schema(settings.contracts_dir))
    assert search["routes"]["summarize"] == {"model": "gpt-4o-mini", "provider": "openai"}
    [entry] = search["experiments"]
    assert (entry["status"], entry["call"], entry["salt"]) == ("concluded", "ship mini", "2026-11")
    change = next(c for c in search["changes"] if c["strategy"] == "experiment")
    assert change["evidence"]["srm"]["p_value"] > 0.001
    assert {m["metric"]: m["verdict"] for m in change["evidence"]["comparisons"]}["quality"] == "non-inferior"

    client = MlflowClient(settings.mlflow_tracking_uri)
    [nested] = client.search_runs([client.get_experiment_by_name("llmopt-tests").experiment_id],
                                  f"tags.mlflow.parentRunId = '{summary['mlflow_run_id']}'")
    assert nested.data.tags["llmopt.call"] == "ship mini"
    assert nested.data.metrics["mini.cost_per_request.effect"] == pytest.approx(-0.94, abs=0.02)

    # the concluded experiment is not analysed again; the same window publishes nothing new
    versions = published_versions(store, "search")
    again = hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path))
    assert again["experiments"] == [] and published_versions(store, "search") == versions


def test_a_new_experiment_is_published_for_gateways_and_keeps_running(write_settings):
    young = {**EXPERIMENT, "start": (WINDOW_END - timedelta(hours=3)).isoformat()}
    path, settings = write_settings(experiments=[young])
    definition = settings.experiments[0]
    open_resources(settings).request_log.append(experiment_requests(definition, {"current": ArmTruth(0.88), "mini": ArmTruth(0.878)},
                                                     definition.start, 3, 200, seed=9))

    summary = experiment_analysis(end=WINDOW_END, config_file=str(path))

    [call] = summary["experiments"]
    assert call["call"] == "keep running" and call["hours_still_needed"] == pytest.approx(9, abs=0.01)
    search = read_latest(open_resources(settings).config_store, "search")
    check_config(search, load_schema(settings.contracts_dir))
    [entry] = search["experiments"]
    assert entry["status"] == "running" and search["changes"] == []
    assert search["routes"] == {"summarize": {"model": "gpt-4o", "provider": "openai"}}
    # a gateway assigns from the published entry exactly as the traffic above was assigned
    assert assign(entry, "unit-1") == assign(definition, "unit-1")
