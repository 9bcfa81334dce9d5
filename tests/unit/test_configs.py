"""Published configs: schema, content hash, versions, stores (local directory and S3 over HTTP)."""

import json
import uuid
from datetime import datetime, timezone

import boto3
import pytest

from llmopt.publish.publishing import publish, published_versions
from llmopt.publish.service_config import ConfigSchemaError, check_config, content_sha256, load_schema
from llmopt.settings import Settings
from llmopt.publish.store import LocalConfigStore, S3ConfigStore, VersionExists, open_config_store

NOW = datetime(2026, 11, 20, 11, 5, tzinfo=timezone.utc)


def config(version=1, service="support") -> dict:
    body = {"schema_version": "1.0", "service": service, "version": version, "created_at": NOW.isoformat(),
            "routes": {"classify_ticket": {"model": "gpt-4o-mini", "provider": "openai"}}, "changes": [],
            "lineage": {"mlflow_run_id": "abc", "prefect_flow_run_id": None,
                        "previous_version": None if version == 1 else version - 1,
                        "window_start": "2026-11-20T10:00:00+00:00", "window_end": "2026-11-20T11:00:00+00:00",
                        "input_fingerprint": "0" * 64}}
    return {**body, "content_sha256": content_sha256(body)}


@pytest.fixture(scope="module")
def schema():
    return load_schema(Settings().contracts_dir)


def test_valid_config_passes(schema):
    check_config(config(), schema)


def test_schema_errors_name_the_field(schema):
    bad = config()
    del bad["routes"]["classify_ticket"]["provider"]
    bad["content_sha256"] = content_sha256(bad)
    with pytest.raises(ConfigSchemaError, match="routes/classify_ticket: 'provider' is a required property"):
        check_config(bad, schema)


def test_tampered_content_is_caught_by_its_hash(schema):
    tampered = config()
    tampered["routes"]["classify_ticket"]["model"] = "gpt-4o"
    with pytest.raises(ConfigSchemaError, match="content_sha256 does not match"):
        check_config(tampered, schema)


def test_publish_checks_all_before_writing_any(tmp_path, schema):
    store = LocalConfigStore(tmp_path)
    broken = config(service="search")
    broken["version"] = 0
    with pytest.raises(ConfigSchemaError, match="version"):
        publish(store, [config(), broken], schema)
    assert store.list("") == []


def test_versions_are_immutable_and_latest_is_written_last(tmp_path, schema):
    store = LocalConfigStore(tmp_path)
    (published,) = publish(store, [config()], schema)
    assert published.location == (tmp_path / "support" / "v000001.json").resolve().as_uri()
    assert json.loads(store.read("support/latest.json"))["version"] == 1
    with pytest.raises(VersionExists):
        publish(store, [config()], schema)
    publish(store, [config(version=2)], schema)
    assert published_versions(store, "support") == [1, 2]
    assert json.loads(store.read("support/latest.json"))["version"] == 2


def test_s3_store_over_http(s3_endpoint, schema):
    bucket = f"cfg-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    store = open_config_store(f"s3://{bucket}/team/llm", s3_endpoint)
    assert isinstance(store, S3ConfigStore) and store.read("support/latest.json") is None
    publish(store, [config()], schema)
    assert store.list("support/") == ["support/latest.json", "support/v000001.json"]
    assert store.location("support/latest.json") == f"s3://{bucket}/team/llm/support/latest.json"
    with pytest.raises(VersionExists):          # conditional PUT (If-None-Match: *) refuses overwrite
        store.write("support/v000001.json", b"{}", exclusive=True)


def test_unknown_store_scheme_is_a_clear_error():
    with pytest.raises(ValueError, match="config_store_uri: unsupported scheme 'gs'"):
        open_config_store("gs://bucket/x")
