"""The same flow against a real PostgreSQL server and an S3-compatible server over HTTP (moto)."""

import json
import logging
import uuid
from pathlib import Path

import boto3
import pandas as pd
import pytest
from sqlalchemy import text

from llmopt.flows.hourly_optimization import hourly_optimization
from llmopt.publish.service_config import check_config, load_schema
from llmopt.resources import open_resources
from llmopt.extract.sql_statistics import read_hourly_spend
from tests.conftest import WINDOW_END, WINDOW_START

pytestmark = pytest.mark.usefixtures("prefect_harness")
SECRET = "s3cret-pw"


def assert_secret_never_shown(settings, summary: dict, capfd, caplog, published: list[bytes]) -> None:
    """The database password is in no log line, summary, MLflow param or tag, report or published file."""
    from mlflow import MlflowClient

    out, err = capfd.readouterr()
    err += caplog.text                  # Prefect's run and task logs
    client = MlflowClient(settings.mlflow_tracking_uri)
    run = client.get_run(summary["mlflow_run_id"])
    report = Path(client.download_artifacts(run.info.run_id, "report/report.html")).read_text()
    shown = [out, err, json.dumps(summary), json.dumps(run.data.params), json.dumps(run.data.tags), report,
             *(p.decode() for p in published)]
    assert len(out + err) > 1000 and len(run.data.params) > 20          # there was output to leak into
    assert not [text for text in shown if SECRET in text]


def test_flow_on_postgres_publishes_to_s3(write_settings, traffic_hour, postgres_url, s3_endpoint, prices, capfd, caplog):
    caplog.set_level(logging.INFO)
    bucket, table = f"llmopt-{uuid.uuid4().hex[:8]}", f"requests_{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket=bucket)
    # the test cluster trusts local connections, so a password in the URL is accepted and must never be shown
    database_url = postgres_url.replace("//llmopt@", f"//llmopt:{SECRET}@")
    path, settings = write_settings(database_url=database_url, requests_table=table,
                                    quarantine_table=f"{table}_quarantine",
                                    config_store_uri=f"s3://{bucket}/gateway/configs", s3_endpoint_url=s3_endpoint)
    log = open_resources(settings).request_log
    # Rows outside the window must stay in the database: the window filter runs in SQL.
    outside = traffic_hour.head(500).assign(ts=traffic_hour["ts"].head(500) - (WINDOW_END - WINDOW_START),
                                            request_id=lambda f: "old-" + f["request_id"])
    log.append(traffic_hour)
    log.append(outside)
    with log.engine.connect() as conn:
        assert conn.execute(text(f"select count(*) from {table}")).scalar_one() == 120_500
        ts_type = conn.execute(text("select data_type from information_schema.columns "
                                    f"where table_name = '{table}' and column_name = 'ts'")).scalar_one()
    assert ts_type == "timestamp with time zone"

    summary = hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path))

    assert summary["rows_read"] == 120_000
    assert summary["status"] == "published"
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == ["gateway/configs/search/latest.json", "gateway/configs/search/v000001.json",
                    "gateway/configs/support/latest.json", "gateway/configs/support/v000001.json"]
    latest = json.loads(s3.get_object(Bucket=bucket, Key="gateway/configs/support/latest.json")["Body"].read())
    check_config(latest, load_schema(settings.contracts_dir))
    assert latest["routes"]["classify_ticket"]["model"] == "gpt-4o-mini"
    assert [p["location"] for p in summary["published"]] == [
        f"s3://{bucket}/gateway/configs/search/v000001.json", f"s3://{bucket}/gateway/configs/support/v000001.json"]

    again = hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path))
    assert again["published"] == []
    assert len(s3.list_objects_v2(Bucket=bucket)["Contents"]) == 4
    assert_secret_never_shown(settings, summary, capfd, caplog, [s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
                                                         for o in s3.list_objects_v2(Bucket=bucket)["Contents"]])

    # hourly spend per service is summed in PostgreSQL (date_trunc), as the budget forecast reads it
    spend = read_hourly_spend(log, WINDOW_START - (WINDOW_END - WINDOW_START), WINDOW_END, prices)
    both = pd.concat([traffic_hour, outside])
    want = both.assign(cost=prices.fill_cost(both)).groupby("service")["cost"].sum()
    assert len(spend) == 2 * 3 and spend.groupby("service")["spend_usd"].sum().to_dict() == pytest.approx(
        want.to_dict(), rel=1e-9)
