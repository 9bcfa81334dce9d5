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
    assert by_alias["support/classify_ticket"] == [{"model": "openai/gpt-4o-mini", "timeout": 4.0, "num_retries": 0}]
    assert by_alias["support/draft_reply"] == [{"model": "anthropic/claude-3-5-sonnet-20240620", "timeout": 12.5,
                                                "num_retries": 2}]
    assert [p["weight"] for p in by_alias["support/summarize"]] == [0.8, 0.2]     # the running experiment
    assert by_alias["openai/gpt-4o"] == [{"model": "openai/gpt-4o", "num_retries": 0}]   # the fallback deployment
    # retries and timeouts are per deployment: no router-wide value reaches a deployment llmopt left alone
    assert body["router_settings"] == {"routing_strategy": "simple-shuffle", "num_retries": 0,
                                       "fallbacks": [{"support/draft_reply": ["openai/gpt-4o"]}]}
    assert yaml.safe_load(render("litellm", CONFIG, CONTRACTS)) == body


def test_portkey_configs_per_task():
    body = portkey_configs(CONFIG)
    assert body["classify_ticket"] == {"strategy": {"mode": "single"}, "targets": [
        {"provider": "openai", "override_params": {"model": "gpt-4o-mini"},
         "retry": {"attempts": 0, "on_status_codes": [429, 500, 502, 503, 504]}, "request_timeout": 4000}]}
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


def test_every_portkey_target_satisfies_the_gateways_own_rule():
    """Portkey 1.15.2 refuses a target without api_key, retry, request_timeout or cache (HTTP 400)."""
    from llmopt.publish.exports import check_export

    body = portkey_configs({"service": "s", "routes": {"t": {"model": "m", "provider": "openai"}}})
    assert body["t"]["targets"][0]["retry"] == {"attempts": 0, "on_status_codes": [429, 500, 502, 503, 504]}
    check_export("portkey", body, CONTRACTS)
    bare = {"t": {"strategy": {"mode": "single"}, "targets": [{"provider": "openai", "override_params": {"model": "m"}}]}}
    with pytest.raises(ValueError, match="t/targets/0"):
        check_export("portkey", bare, CONTRACTS)


def test_providers_are_named_in_each_gateways_vocabulary():
    from llmopt.publish.providers import UnservableProvider

    config = {"service": "s", "routes": {"a": {"model": "llama-v2-70b", "provider": "fireworks"},
                                         "b": {"model": "together_ai/llama-2-70b", "provider": "together"},
                                         "c": {"model": "llama2-70b", "provider": "lepton"}}}
    portkey = portkey_configs(config)
    assert [portkey[t]["targets"][0]["provider"] for t in "abc"] == ["fireworks-ai", "together-ai", "lepton"]
    with pytest.raises(UnservableProvider, match="provider 'lepton' .* gateway_providers.litellm"):
        litellm_router(config)
    body = litellm_router(config, {"lepton": "openai"})
    assert [m["litellm_params"]["model"] for m in body["model_list"]] == [
        "fireworks_ai/llama-v2-70b", "together_ai/llama-2-70b", "openai/llama2-70b"]
    providers = {"litellm": {"lepton": "openai"}}
    assert yaml.safe_load(render("litellm", config, CONTRACTS, providers)) == body
