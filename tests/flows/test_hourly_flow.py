"""The hourly-optimization flow under Prefect's test harness, on SQLite + local store + local MLflow."""

import json
import sqlite3

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.gateway import read_latest
from llmopt.flows.hourly_optimization import hourly_optimization
from llmopt.publish.service_config import check_config, load_schema
from llmopt.publish.publishing import latest_config, published_versions
from llmopt.validate.contract import ContractBreach
from llmopt.resources import open_resources
from tests.conftest import WINDOW_END, WINDOW_START

pytestmark = pytest.mark.usefixtures("prefect_harness")

# The synthetic workload's truth: gpt-4o-mini is good enough (within 0.02) on these tasks only.
GOOD_ENOUGH = {("support", "classify_ticket"), ("search", "summarize"), ("search", "extract_entities")}


def run_flow(config_path, **kwargs) -> dict:
    return hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(config_path), **kwargs)


def test_switches_where_a_cheaper_model_is_good_enough_and_keeps_elsewhere(write_settings, traffic_hour):
    path, settings = write_settings()
    open_resources(settings).request_log.append(traffic_hour)

    summary = run_flow(path)

    assert summary["status"] == "published"
    assert summary["rows_read"] == 120_000 and summary["rows_quarantined"] == 0
    assert {(c["service"], c["task_type"]): c["to"] for c in summary["changes"]} == \
        {key: "gpt-4o-mini" for key in GOOD_ENOUGH}
    assert all(c["state"] == "approved" and c["expected_savings_usd_per_day"] > 0 for c in summary["changes"])
    kept = {(r["service"], r["task_type"]) for r in summary["recommendations"] if not r["recommended_model"]}
    assert kept == {("support", "draft_reply"), ("coding", "code_review"), ("coding", "generate_code")}

    store, schema = open_resources(settings).config_store, load_schema(settings.contracts_dir)
    support, search = read_latest(store, "support"), read_latest(store, "search")
    for config in (support, search):
        check_config(config, schema)
        assert config["version"] == 1 and config["lineage"]["previous_version"] is None
        assert config["lineage"]["mlflow_run_id"] == summary["mlflow_run_id"]
        assert config["lineage"]["prefect_flow_run_id"] == summary["prefect_flow_run_id"]
        assert config["lineage"]["window_start"] == WINDOW_START.isoformat()
    assert support["routes"] == {"classify_ticket": {"model": "gpt-4o-mini", "provider": "openai"},
                                 "draft_reply": {"model": "gpt-4o", "provider": "openai"}}
    assert store.read("support/v000001.json") == store.read("support/latest.json")
    assert latest_config(store, "coding") is None       # nothing to change: nothing published
    evidence = support["changes"][0]["evidence"]["recommended"]
    assert evidence["scored_requests"] >= 200 and evidence["quality_difference"]["low"] >= -0.02

    client = MlflowClient(settings.mlflow_tracking_uri)
    run = client.get_run(summary["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.metrics["rows_read"] == 120_000
    assert run.data.metrics["configs_published"] == 2
    assert 0.90 <= run.data.metrics["fit.latency_p95_coverage"] <= 0.99
    assert run.data.params["policy.quality_margin"] == "0.02"
    assert run.data.tags["prefect.flow_run_id"] == summary["prefect_flow_run_id"]
    assert run.data.tags["llmopt.config_versions"] == "search:v1,support:v1"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)} | \
        {a.path for a in client.list_artifacts(run.info.run_id, "report")}
    assert {"recommendations.json", "summary.json", "report/report.md", "report/report.html",
            "report/cost_vs_quality.png",
            "report/latency_by_model.png"} <= artifacts
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    model = mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/latency_p95")
    probe = pd.DataFrame({"model": ["gpt-4o", "gpt-4o"], "prompt_tokens": [500, 500], "completion_tokens": [10, 400]})
    p95 = model.predict(probe)
    assert np.all(np.isfinite(p95)) and p95[1] > p95[0]   # longer answers take longer


def test_rerun_of_the_same_window_publishes_nothing_new(write_settings, traffic_hour):
    path, settings = write_settings()
    open_resources(settings).request_log.append(traffic_hour)
    first = run_flow(path)
    store = open_resources(settings).config_store
    before = {svc: store.read(f"{svc}/latest.json") for svc in ("support", "search")}

    second = run_flow(path)

    assert first["status"] == "published" and second["published"] == []
    assert second["status"] == "no change"
    assert {svc: store.read(f"{svc}/latest.json") for svc in ("support", "search")} == before
    assert published_versions(store, "support") == [1]
    # The published routes are now the current ones, so nothing is recommended again.
    assert all(r["current_model"] == "gpt-4o-mini" for r in second["recommendations"]
               if (r["service"], r["task_type"]) in GOOD_ENOUGH)


def test_manual_approval_records_pending_changes_and_publishes_nothing(write_settings, traffic_hour):
    path, settings = write_settings(policy={"approval": "manual"})
    open_resources(settings).request_log.append(traffic_hour)

    summary = run_flow(path)

    assert summary["status"] == "pending approval"
    assert len(summary["changes"]) == 3 and {c["state"] for c in summary["changes"]} == {"pending"}
    assert summary["published"] == [] and open_resources(settings).config_store.list("") == []


def test_bad_rows_are_quarantined_with_reasons(write_settings, traffic_hour):
    path, settings = write_settings()
    frame = traffic_hour.copy()
    frame.loc[0, "latency_ms"] = -3.0
    frame.loc[1, "status"] = "exploded"
    frame.loc[2, "cached_tokens"] = frame.loc[2, "prompt_tokens"] + 1
    frame.loc[3, "quality_score"] = 1.5
    frame.loc[4, ["model", "cost_usd"]] = ["mystery-model", np.nan]
    frame.loc[5, "request_id"] = frame.loc[6, "request_id"]
    open_resources(settings).request_log.append(frame)

    summary = run_flow(path)

    assert summary["rows_read"] == 120_000 and summary["rows_quarantined"] == 7
    assert summary["quarantine_reasons"] == {
        "latency_ms <= 0 or > 3,600,000 (an hour), or infinite": 1, "status not in {ok, error, timeout}": 1,
        "cached_tokens > prompt_tokens": 1,
        "quality_score outside [0, 1]": 1, "request_id is duplicated": 2,
        "no price for model mystery-model and cost_usd is null": 1}
    stored = open_resources(settings).request_log.read_quarantine(f"window {WINDOW_START.isoformat()}/{WINDOW_END.isoformat()}")
    assert len(stored) == 7 and set(stored["request_id"]) >= {frame.loc[0, "request_id"], frame.loc[6, "request_id"]}
    latency_row = stored.loc[stored["reason"] == "latency_ms <= 0 or > 3,600,000 (an hour), or infinite", "row_json"]
    assert json.loads(latency_row.iloc[0])["latency_ms"] == -3.0
    assert summary["status"] == "published"    # 7 bad rows of 120,000 stay under max_bad_row_share


def test_renamed_column_stops_the_run_and_publishes_nothing(write_settings, traffic_hour):
    path, settings = write_settings()
    # a required column (quality_score is optional now: absent means null, no breach)
    frame = traffic_hour.head(5_000).rename(columns={"latency_ms": "latency"})
    frame.to_sql(settings.requests_table, open_resources(settings).request_log.engine, index=False)

    with pytest.raises(ContractBreach, match=r"latency_ms: expect_column_to_exist failed"):
        run_flow(path)

    assert open_resources(settings).config_store.list("") == []
    runs = MlflowClient(settings.mlflow_tracking_uri).search_runs(
        [MlflowClient(settings.mlflow_tracking_uri).get_experiment_by_name("llmopt-tests").experiment_id])
    assert runs[0].info.status == "FAILED" and "latency_ms" in runs[0].data.tags["llmopt.error"]


def test_too_many_bad_rows_stop_the_run_and_keep_the_reasons(write_settings, traffic_hour):
    path, settings = write_settings(policy={"max_bad_row_share": 0.01})
    frame = traffic_hour.head(10_000).copy()
    frame.loc[:199, "latency_ms"] = 0.0          # 2% of rows
    open_resources(settings).request_log.append(frame)

    with pytest.raises(ContractBreach, match=r"max_bad_row_share .*2\.0% of rows.*latency_ms <= 0"):
        run_flow(path)

    assert open_resources(settings).config_store.list("") == []
    assert len(open_resources(settings).request_log.read_quarantine()) == 200


def test_empty_window_completes_with_nothing_to_do(write_settings, traffic_hour):
    """Nothing in the lookback: no traffic. An empty hour after traffic still decides on the pooled lookback."""
    path, settings = write_settings(policy={"lookback_hours": 1})
    open_resources(settings).request_log.append(traffic_hour.head(100))

    summary = hourly_optimization(start=WINDOW_END, config_file=str(path))

    assert summary["status"] == "no traffic" and summary["message"] == "no traffic, nothing to do"
    assert summary["published"] == []
    path, settings = write_settings(policy={"lookback_hours": 2})
    pooled = hourly_optimization(start=WINDOW_END, config_file=str(path), dry_run=True)
    assert pooled["rows_read"] == 0 and pooled["lookback"]["rows_pooled"] == 100 and pooled["status"] == "no change"


def test_a_missing_table_is_an_error_naming_the_setting_not_no_traffic(write_settings):
    path, settings = write_settings(requests_table="llm_requestz")
    with sqlite3.connect(settings.database_url.removeprefix("sqlite:///")) as db:    # the file, with its real table
        db.execute("CREATE TABLE llm_requests (request_id TEXT)")
    with pytest.raises(LookupError, match=r"requests_table 'llm_requestz' not found in database_url sqlite:///"):
        hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path))
