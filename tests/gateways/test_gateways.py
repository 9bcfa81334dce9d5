"""llmopt's exports before the real gateways: LiteLLM's Router (installed in its own venv) and Portkey
gateway 1.15.2's recorded verdicts (tests/gateways/record_portkey_verdicts.py)."""

import json
from pathlib import Path

import pytest

from llmopt.publish.exports import check_export, litellm_router, portkey_configs
from llmopt.publish.providers import PORTKEY
from llmopt.settings import Settings
from tests.gateway import probe_litellm
from tests.gateways.portkey_cases import SERVICE, cases

HERE = Path(__file__).resolve().parent
RECORDED = json.loads((HERE.parent / "data" / "gateways" / "portkey-1.15.2-verdicts.json").read_text())
CONTRACTS = Settings().contracts_dir


def test_portkey_schema_agrees_with_the_real_gateway_on_every_recorded_case():
    assert set(RECORDED["cases"]) == set(cases())
    for name, case in RECORDED["cases"].items():
        assert case["config"] == cases()[name], f"{name}: the export changed since it was recorded; re-record"
        try:
            check_export("portkey", {"task": case["config"]}, CONTRACTS)
            ours = True
        except ValueError:
            ours = False
        assert ours == case["accepted"], name
    assert all(c["accepted"] for n, c in RECORDED["cases"].items() if n.startswith("llmopt:"))


def test_portkey_provider_table_uses_only_slugs_the_gateway_knows():
    assert set(PORTKEY.values()) <= set(RECORDED["providers"])
    schema = json.loads((CONTRACTS / "exports" / "portkey.schema.json").read_text())
    target = schema["additionalProperties"]["properties"]["targets"]["items"]
    assert target["properties"]["provider"]["enum"] == RECORDED["providers"]


@pytest.mark.slow
def test_litellm_router_routes_every_alias_with_each_deployments_own_settings(litellm_python, tmp_path):
    body = litellm_router(SERVICE, {"lepton": "openai", "anyscale": "openai"})
    sent = probe_litellm(litellm_python, body, tmp_path)
    assert set(sent) == {m["model_name"] for m in body["model_list"]}
    assert all(s["answer"] == "ok" for s in sent.values())
    classify = sent["support/classify_ticket"]
    assert (classify["model"], classify["num_retries"], classify["max_tokens"]) == ("openai/gpt-4o-mini", 0, 64)
    draft = sent["support/draft_reply"]
    assert (draft["model"], draft["timeout"], draft["num_retries"]) == (
        "anthropic/claude-3-5-sonnet-20240620", 12.5, 2)
    llama = sent["support/llama"]
    assert (llama["model"], llama["num_retries"]) == ("fireworks_ai/accounts/fireworks/models/llama-v2-70b-chat", 0)
    # deployments llmopt gave no timeout keep LiteLLM's own default: none of claude's 12.5 s leaks to them
    unset = {s["timeout"] for alias, s in sent.items() if alias != "support/draft_reply"}
    assert len(unset) == 1 and 12.5 not in unset
    assert sent["support/summarize"]["model"] in {"openai/gpt-4o", "openai/gpt-4o-mini"}      # the experiment
    assert sent["together/togethercomputer/llama-2-70b-chat"]["model"] == "together_ai/togethercomputer/llama-2-70b-chat"
    # what LiteLLM cannot enforce: a client's own max_tokens replaces the deployment's default
    assert probe_litellm(litellm_python, body, tmp_path, client_max_tokens=4000)["support/classify_ticket"]["max_tokens"] == 4000
