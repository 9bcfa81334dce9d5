"""Published configs: schema, content hash, versions, stores (local directory and S3 over HTTP)."""

import json
import uuid
from datetime import datetime, timezone

import boto3
import pytest

from llmopt.publish.config_model import (ChangeRecord, DecisionRecord, ExperimentEntry, Lineage, ModelSettings, Route,
                                        ServiceConfig, Variant)

from llmopt.publish.publishing import PublishConflict, publish, published_versions
from llmopt.publish.service_config import ConfigSchemaError, check_config, content_sha256, load_schema
from llmopt.settings import Settings
from llmopt.publish.store import LocalConfigStore, S3ConfigStore, VersionExists, open_config_store

NOW = datetime(2026, 11, 20, 11, 5, tzinfo=timezone.utc)


def config(version=1, service="support") -> dict:
    body = {"schema_version": "1.0", "service": service, "version": version, "created_at": NOW.isoformat(),
            "routes": {"classify_ticket": {"model": "gpt-4o-mini", "provider": "openai"}}, "changes": [],
            "lineage": {"prefect_flow_run_id": None, "mlflow_run_id": "abc",
                        "previous_version": None if version == 1 else version - 1,
                        "window_start": "2026-11-20T10:00:00+00:00", "window_end": "2026-11-20T11:00:00+00:00",
                        "input_fingerprint": "0" * 64}}
    return {**body, "content_sha256": content_sha256(body)}


def typed(raw: dict) -> ServiceConfig:
    return ServiceConfig.model_validate(raw)


def test_typed_config_round_trips_to_the_same_json():
    raw = config()
    assert json.dumps(typed(raw).to_dict(), indent=2) == json.dumps(raw, indent=2)
    with pytest.raises(ValueError, match="version"):
        typed({**raw, "version": 0})


def test_typed_config_and_the_json_schema_name_the_same_fields():
    """data_contracts/service_config.schema.json (what gateways check) and ServiceConfig (what llmopt builds)."""
    contract = json.loads((Settings().contracts_dir / "service_config.schema.json").read_text())

    def fields(model) -> set[str]:
        return {f.alias or name for name, f in model.model_fields.items()}

    props = contract["properties"]
    assert fields(ServiceConfig) == set(props)
    assert {n for n, f in ServiceConfig.model_fields.items() if f.is_required()} == set(contract["required"])
    pairs = [(Route, props["routes"]["additionalProperties"]), (ModelSettings, props["model_settings"]["additionalProperties"]),
             (ChangeRecord, props["changes"]["items"]), (ExperimentEntry, props["experiments"]["items"]),
             (Lineage, props["lineage"]), (Variant, props["experiments"]["items"]["properties"]["variants"]["items"]),
             (DecisionRecord, props["changes"]["items"]["properties"]["decision"])]
    for model, part in pairs:
        assert fields(model) == set(part["properties"]), model.__name__
        required = {f.alias or n for n, f in model.model_fields.items() if f.is_required()}
        assert required == set(part["required"]), model.__name__


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
    broken = ServiceConfig.model_validate({**config(service="search"), "content_sha256": "0" * 64})
    with pytest.raises(ConfigSchemaError, match="content_sha256"):
        publish(store, [typed(config()), broken], schema)
    assert store.list("") == []


def test_versions_are_immutable_and_latest_is_written_last(tmp_path, schema):
    store = LocalConfigStore(tmp_path)
    (published,) = publish(store, [typed(config())], schema)
    assert published.location == (tmp_path / "support" / "v000001.json").resolve().as_uri()
    assert json.loads(store.read("support/latest.json"))["version"] == 1
    with pytest.raises(PublishConflict, match="support: v1 was published by another run"):
        publish(store, [typed(config())], schema)
    publish(store, [typed(config(version=2))], schema)
    assert published_versions(store, "support") == [1, 2]
    assert json.loads(store.read("support/latest.json"))["version"] == 2


def test_s3_store_over_http(s3_endpoint, schema):
    bucket = f"cfg-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    store = open_config_store(f"s3://{bucket}/team/llm", s3_endpoint)
    assert isinstance(store, S3ConfigStore) and store.read("support/latest.json") is None
    publish(store, [typed(config())], schema)
    assert store.list("support/") == ["support/latest.json", "support/v000001.json"]
    assert store.location("support/latest.json") == f"s3://{bucket}/team/llm/support/latest.json"
    with pytest.raises(VersionExists):          # conditional PUT (If-None-Match: *) refuses overwrite
        store.write("support/v000001.json", b"{}", exclusive=True)


def test_unknown_store_scheme_is_a_clear_error():
    with pytest.raises(ValueError, match="config_store_uri: unsupported scheme 'gs'"):
        open_config_store("gs://bucket/x")


def test_of_many_racing_writers_of_one_version_exactly_one_wins(tmp_path):
    """16 threads write v000001.json at once: one succeeds, 15 get VersionExists, no temp file is left."""
    import threading

    store = LocalConfigStore(tmp_path)
    start, outcomes = threading.Barrier(16), []

    def write(i: int) -> None:
        start.wait()
        try:
            store.write("svc/v000001.json", f'{{"writer": {i}}}'.encode(), exclusive=True)
            outcomes.append(("won", i))
        except VersionExists:
            outcomes.append(("lost", i))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for result, i in outcomes if result == "won"]
    assert len(winners) == 1 and len(outcomes) == 16
    assert store.read("svc/v000001.json") == f'{{"writer": {winners[0]}}}'.encode()
    assert sorted(p.name for p in (tmp_path / "svc").iterdir()) == ["v000001.json"]
