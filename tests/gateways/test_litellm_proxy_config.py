"""The organisation's proxy config, before LiteLLM's real proxy (1.106.0): its own loader boots from the object
llmopt published to an S3-compatible bucket (`LITELLM_CONFIG_BUCKET_*`), and from a versioned copy on disk."""

import uuid
from datetime import datetime, timezone
from pathlib import Path

import boto3

from llmopt.publish.build import successor_config
from llmopt.publish.proxy_merge import deployment_id
from llmopt.publish.publishing import publish, read_config
from llmopt.publish.service_config import load_schema
from llmopt.publish.store import S3ConfigStore
from tests.gateway import load_with_litellm_proxy

CONTRACTS = Path(__file__).parents[2] / "data_contracts"
NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)
BASE = """\
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
litellm_settings:
  drop_params: true
model_list:
  - model_name: embed
    litellm_params: {model: openai/text-embedding-3-small, api_key: os.environ/OPENAI_API_KEY}
    model_info: {id: team-embed}
router_settings:
  num_retries: 1
"""
SETTINGS = {"gpt-4o": {"provider": "openai", "timeout_s": 30, "retries": 2,
                       "fallbacks": [{"model": "claude-3-5-haiku", "provider": "anthropic"}]}}


def test_the_real_proxy_boots_from_the_published_object(litellm_proxy_python, s3_endpoint, tmp_path):
    bucket = f"gateway-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket=bucket)
    store = S3ConfigStore(bucket, "llmopt", endpoint_url=s3_endpoint)
    base = tmp_path / "proxy_base.yaml"
    base.write_text(BASE)

    def publish_one(config):
        publish(store, [config], load_schema(CONTRACTS), ("litellm",), CONTRACTS, None, base)

    route = {"model": "gpt-4o", "provider": "openai"}
    publish_one(successor_config("support", {"model_settings": SETTINGS}, {"chat": route}, [], 1, NOW, {}))
    publish_one(successor_config("billing", None, {"summarize": {"model": "gpt-4o-mini", "provider": "openai"}},
                                 [], 1, NOW, {}))
    canary = {**route, "canary": {"model": "gpt-4o-mini", "provider": "openai", "weight": 0.25,
                                  "started_at": NOW.isoformat()}}
    previous = read_config(store, "support/v000001.json").to_dict()
    publish_one(successor_config("support", previous, {"chat": canary}, [], 2, NOW, {}))

    env = {"LITELLM_CONFIG_BUCKET_NAME": bucket, "LITELLM_CONFIG_BUCKET_OBJECT_KEY": "llmopt/litellm/proxy_config.yaml",
           "AWS_ENDPOINT_URL": s3_endpoint, "LITELLM_MASTER_KEY": "sk-test", "OPENAI_API_KEY": "sk-fake"}
    booted = load_with_litellm_proxy(litellm_proxy_python, tmp_path / "bucket.json", env=env)
    gpt4o = deployment_id("support", "support/chat", "openai/gpt-4o")
    assert booted["deployments"] == [
        {"model_name": "embed", "id": "team-embed", "model": "openai/text-embedding-3-small", "weight": None},
        {"model_name": "billing/summarize", "id": deployment_id("billing", "billing/summarize", "openai/gpt-4o-mini"),
         "model": "openai/gpt-4o-mini", "weight": None},
        {"model_name": "support/chat", "id": gpt4o, "model": "openai/gpt-4o", "weight": 0.75},
        {"model_name": "support/chat", "id": deployment_id("support", "support/chat", "openai/gpt-4o-mini"),
         "model": "openai/gpt-4o-mini", "weight": 0.25},
        {"model_name": "anthropic/claude-3-5-haiku", "model": "anthropic/claude-3-5-haiku", "weight": None,
         "id": deployment_id("", "anthropic/claude-3-5-haiku", "anthropic/claude-3-5-haiku")}]
    assert booted["fallbacks"] == [{"support/chat": ["anthropic/claude-3-5-haiku"]}]
    assert (booted["routing_strategy"], booted["num_retries"]) == ("simple-shuffle", 1)

    # org v1 (support alone) from its versioned copy, through the file loader: the same id for the same model
    v1 = tmp_path / "proxy_config.v000001.yaml"
    v1.write_bytes(store.read("litellm/proxy_config.v000001.yaml"))
    first = load_with_litellm_proxy(litellm_proxy_python, tmp_path / "file.json", v1,
                                    {"LITELLM_MASTER_KEY": "sk-test", "OPENAI_API_KEY": "sk-fake"})
    assert [(d["model_name"], d["id"], d["weight"]) for d in first["deployments"]] == [
        ("embed", "team-embed", None), ("support/chat", gpt4o, None),
        ("anthropic/claude-3-5-haiku", deployment_id("", "anthropic/claude-3-5-haiku", "anthropic/claude-3-5-haiku"),
         None)]
    assert store.list("litellm/") == ["litellm/proxy_config.v000001.yaml", "litellm/proxy_config.v000002.yaml",
                                      "litellm/proxy_config.v000003.yaml", "litellm/proxy_config.yaml"]
