"""Request logs as Parquet and CSV in an S3-compatible store over HTTP (moto), read by the flow."""

import io
import uuid
from datetime import timedelta

import boto3
import pytest

from llmopt.extract.lake_source import LakeRequestLog
from llmopt.extract.synthetic import generate_requests
from llmopt.flows.hourly_optimization import hourly_optimization
from llmopt.resources import open_resources
from tests.conftest import WINDOW_END, WINDOW_START

pytestmark = pytest.mark.usefixtures("prefect_harness")


def put_hive(s3, bucket: str, prefix: str, frame, fmt: str) -> None:
    for hour, rows in frame.groupby(frame["ts"].dt.floor("h")):
        body = io.BytesIO()
        rows.to_parquet(body, index=False) if fmt == "parquet" else body.write(rows.to_csv(index=False).encode())
        s3.put_object(Bucket=bucket, Key=f"{prefix}/date={hour:%Y-%m-%d}/hour={hour:%H}/part-0.{fmt}",
                      Body=body.getvalue())


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_lake_source_reads_hive_partitions_from_s3(s3_endpoint, prices, fmt):
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket=bucket)
    frame = generate_requests(3_000, hours=3, seed=9, end=WINDOW_END, prices=prices)
    put_hive(s3, bucket, "logs", frame, fmt)
    log = LakeRequestLog(f"s3://{bucket}/logs", s3_endpoint_url=s3_endpoint)
    got = log.read_partition(WINDOW_START, WINDOW_END, ["request_id", "ts", "model"])
    assert sorted(got["request_id"]) == sorted(frame.loc[frame["ts"] >= WINDOW_START, "request_id"])
    assert got["source_file"].str.startswith(f"{bucket}/logs/date=").all()
    hours = [(WINDOW_END - timedelta(hours=h), WINDOW_END - timedelta(hours=h - 1)) for h in (3, 2, 1)]
    assert len(set(log.fingerprints(hours))) == 3


def test_flow_reads_a_parquet_lake_on_s3_and_keeps_rollups_there(write_settings, s3_endpoint, prices):
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket=bucket)
    frame = generate_requests(36_000, hours=6, seed=13, end=WINDOW_END, prices=prices)
    bad = frame.index[frame["ts"] >= WINDOW_START][:3]
    frame.loc[bad, "latency_ms"] = -1.0                         # quarantined, with the file they came from
    put_hive(s3, bucket, "logs", frame, "parquet")
    path, settings = write_settings(requests_path=f"s3://{bucket}/logs", s3_endpoint_url=s3_endpoint,
                                    rollups_dir=f"s3://{bucket}/llmopt/rollups", policy={"lookback_hours": 6})
    summary = hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path), dry_run=True)
    assert summary["rows_read"] == (frame["ts"] >= WINDOW_START).sum() and summary["rows_quarantined"] == 3, summary
    assert summary["lookback"]["rows_pooled"] == len(frame) - 3 and summary["lookback"]["partitions"] == 6, summary["lookback"]
    quarantined = open_resources(settings).request_log.read_quarantine()
    assert len(quarantined) == 3 and quarantined["row_json"].str.contains(f"{bucket}/logs/date=").all()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="llmopt/rollups/")["Contents"]]
    assert sum(k.endswith("meta.json") for k in keys) == 6
    again = hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path), dry_run=True)
    assert again["lookback"]["rollups_reused"] == 5 and again["recommendations"] == summary["recommendations"]
