"""Gateway exports: a native config as LiteLLM router and Portkey configs of the documented shapes."""

import pytest
import yaml

from llmopt.publish.exports import litellm_router, portkey_configs, render
from llmopt.settings import Settings

CONTRACTS = Settings().contracts_dir
CONFIG = {
    "service": "support",
    "routes": {"classify_ticket": {"model": "gpt-4o-mini", "provider": "openai"},
               "draft_reply": {"model": "claude-3-5-sonnet-20240620", "provider": "anthropic"},
               "summarize": {"model": "gpt-4o", "provider": "openai"}},
    "model_settings": {
        "claude-3-5-sonnet-20240620": {"provider": "anthropic", "timeout_s": 12.5, "retries": 2,
                                       "fallbacks": [{"model": "gpt-4o", "provider": "openai"}]},
        "gpt-4o-mini": {"provider": "openai", "timeout_s": 4.0, "retries": 0, "fallbacks": []}},
    "experiments": [{"id": "sum", "task_type": "summarize", "salt": "s", "control": "a", "status": "running",
                     "call": None, "variants": [{"name": "a", "weight": 0.8, "model": "gpt-4o", "provider": "openai"},
                                                {"name": "b", "weight": 0.2, "model": "gpt-4o-mini",
                                                 "provider": "openai"}]}],
}


def test_litellm_router_config():
    body = litellm_router(CONFIG)
    by_alias = {}
    for m in body["model_list"]:
        by_alias.setdefault(m["model_name"], []).append(m["litellm_params"])
    assert by_alias["support/classify_ticket"] == [{"model": "openai/gpt-4o-mini", "timeout": 4.0}]
    assert by_alias["support/draft_reply"] == [{"model": "anthropic/claude-3-5-sonnet-20240620", "timeout": 12.5}]
    assert [p["weight"] for p in by_alias["support/summarize"]] == [0.8, 0.2]     # the running experiment
    assert by_alias["openai/gpt-4o"] == [{"model": "openai/gpt-4o"}]               # the fallback deployment
    assert body["router_settings"] == {"routing_strategy": "simple-shuffle", "num_retries": 2, "timeout": 12.5,
                                       "fallbacks": [{"support/draft_reply": ["openai/gpt-4o"]}]}
    assert yaml.safe_load(render("litellm", CONFIG, CONTRACTS)) == body


def test_portkey_configs_per_task():
    body = portkey_configs(CONFIG)
    assert body["classify_ticket"] == {"strategy": {"mode": "single"}, "targets": [
        {"provider": "openai", "override_params": {"model": "gpt-4o-mini"}, "request_timeout": 4000}]}
    draft = body["draft_reply"]
    assert draft["strategy"]["mode"] == "fallback" and 429 in draft["strategy"]["on_status_codes"]
    assert [t["override_params"]["model"] for t in draft["targets"]] == ["claude-3-5-sonnet-20240620", "gpt-4o"]
    assert draft["targets"][0]["retry"]["attempts"] == 2 and draft["targets"][0]["request_timeout"] == 12500
    assert body["summarize"]["strategy"] == {"mode": "loadbalance"}
    assert [t["weight"] for t in body["summarize"]["targets"]] == [0.8, 0.2]
    render("portkey", CONFIG, CONTRACTS)          # passes the schema


def test_a_malformed_export_is_refused_naming_the_field():
    from llmopt.publish.exports import check_export

    with pytest.raises(ValueError, match="model_list/0/litellm_params/model"):
        check_export("litellm", {"model_list": [{"model_name": "x", "litellm_params": {"model": "gpt-4o"}}],
                                 "router_settings": {}}, CONTRACTS)
    with pytest.raises(ValueError, match="summarize/strategy/mode"):
        check_export("portkey", {"summarize": {"strategy": {"mode": "round-robin"}, "targets": [{"provider": "x"}]}},
                     CONTRACTS)
