"""The flow on real public traces (copied unchanged into tests/data/real, see tests/data/README.md)."""

import json
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from llmopt.publish.providers import PORTKEY
from tests.gateway import node_verifies, probe_litellm, read_latest
from llmopt.flows.hourly_optimization import hourly_optimization
from llmopt.cli import main as cli
from llmopt.publish.service_config import check_config, load_schema
from llmopt.publish.publishing import latest_config
from llmopt.extract.ingest import ingest_file
from llmopt.resources import open_resources
from tests.conftest import WINDOW_END, WINDOW_START

pytestmark = pytest.mark.usefixtures("prefect_harness")
REAL = Path(__file__).resolve().parents[1] / "data" / "real"


def test_llmperf_rate_limited_and_failing_providers_get_fallbacks(write_settings, litellm_python, tmp_path):
    # LiteLLM has no anyscale or lepton client: they go through its OpenAI-compatible one
    path, settings = write_settings(strategies=["routing", "reliability", "max_tokens"], exports=["litellm", "portkey"],
                                    gateway_providers={"litellm": {"anyscale": "openai", "lepton": "openai"}})
    assert ingest_file(open_resources(settings), REAL / "llmperf_leaderboard_requests.csv", "llmperf", WINDOW_END)["rows_written"] == 2845

    summary = hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path))

    config = read_latest(open_resources(settings).config_store, "llmperf")
    check_config(config, load_schema(settings.contracts_dir))
    with_fallbacks = {(s["provider"], m) for m, s in config["model_settings"].items() if s["fallbacks"]}
    # by hand: Lepton answered 390 of 450 requests with HTTP 429, Bedrock failed 146 of 300
    assert {p for p, _ in with_fallbacks} == {"lepton", "bedrock"} and len(with_fallbacks) == 5
    lepton = next(r for r in summary["reliability"] if r["model"] == "llama2-13b")
    assert lepton["rate_limited_share"] == pytest.approx(130 / 150, abs=1e-4)
    # a fallback serves the same model size and is itself reliable
    assert config["model_settings"]["llama2-70b"]["fallbacks"][0] == {"model": "llama2-70b-4096", "provider": "groq"}
    raw = pd.read_csv(REAL / "llmperf_leaderboard_requests.csv")
    groq_p99 = raw.loc[raw["provider"] == "groq", "end_to_end_latency_s"].quantile(0.99)
    assert groq_p99 < config["model_settings"]["llama2-70b-4096"]["timeout_s"] <= groq_p99 * 1.2 + 0.5

    # the gateway exports were published beside the native config, for the same version
    store = open_resources(settings).config_store
    litellm = yaml.safe_load(store.read("llmperf/latest.litellm.yaml"))
    assert store.read("llmperf/v000001.litellm.yaml") == store.read("llmperf/latest.litellm.yaml")
    assert {"lepton/llama2-70b": ["groq/llama2-70b-4096", "together/together_ai/togethercomputer/llama-2-70b-chat"]} \
        in litellm["router_settings"]["fallbacks"]
    assert len(litellm["router_settings"]["fallbacks"]) == 5
    portkey = json.loads(store.read("llmperf/latest.portkey.json"))
    assert set(portkey) == set(config["routes"])
    assert cli(["--config", str(path), "configs", "export", "llmperf", "--format", "portkey"]) == 0
    used = {t["provider"] for cfg in portkey.values() for t in cfg["targets"]}
    assert "fireworks-ai" in used and used <= set(PORTKEY.values())         # Portkey's own provider slugs
    # a gateway outside Python recomputes every version's content_sha256 (RFC 8785) and agrees
    # LiteLLM's real Router routes every alias of the export (mock answers), each deployment with its own retries
    sent = probe_litellm(litellm_python, litellm, tmp_path)
    assert set(sent) == {m["model_name"] for m in litellm["model_list"]} and all(s["answer"] == "ok" for s in sent.values())
    for deployment in litellm["model_list"]:
        assert sent[deployment["model_name"]]["num_retries"] == deployment["litellm_params"]["num_retries"]
    versions = sorted(Path(settings.config_store_uri.removeprefix("file://")).glob("llmperf/v??????.json"))
    assert versions and all(v["ok"] for v in node_verifies(versions))


@pytest.mark.parametrize("trace, fmt, task, by_hand", [
    ("routellm_mmlu_responses.csv", "routellm-mmlu", "mmlu", 0.681 - 0.806),
    ("routellm_gsm8k_responses.csv", "routellm-gsm8k", "gsm8k", (842 - 1130) / 1319),
])
def test_routellm_switch_to_mixtral_is_rejected_at_a_two_point_margin(write_settings, trace, fmt, task, by_hand):
    path, settings = write_settings(policy={"quality_margin": 0.02})
    ingest_file(open_resources(settings), REAL / trace, fmt, WINDOW_END)

    summary = hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path))

    [row] = [r for r in summary["recommendations"] if r["task_type"] == task]
    assert row["current_model"] == "gpt-4-1106-preview" and row["recommended_model"] == ""
    assert summary["changes"] == [] and latest_config(open_resources(settings).config_store, "routellm") is None
    client = MlflowClient(settings.mlflow_tracking_uri)
    recs = json.loads(Path(client.download_artifacts(summary["mlflow_run_id"], "recommendations.json")).read_text())
    mixtral = next(c for r in recs if r["task_type"] == task for c in r["candidates"])
    assert mixtral["quality_difference"]["estimate"] == pytest.approx(by_hand, abs=0.002)
    assert any(b.startswith("quality_margin") for b in mixtral["blocked_by"])


def test_an_azure_trace_hour_runs_through_the_contract_and_flow(write_settings):
    path, settings = write_settings()
    result = ingest_file(open_resources(settings), REAL / "azure_llm_2023_code.csv", "azure")
    assert (result["rows_written"], result["rows_quarantined"]) == (8819, 0)
    summary = hourly_optimization(start=datetime(2023, 11, 16, 18, tzinfo=timezone.utc),
                                  end=datetime(2023, 11, 16, 19, 15, tzinfo=timezone.utc), config_file=str(path))
    assert summary["rows_read"] == 8819 and summary["changes"] == []     # no quality scores: no evidence, no change


def test_mooncake_prefix_reuse_makes_prompt_caching_pay(write_settings):
    path, settings = write_settings(strategies=["routing", "prompt_caching"])
    ingest_file(open_resources(settings), REAL / "mooncake_conversation_trace.jsonl", "mooncake", WINDOW_END)

    summary = hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path))

    [change] = [c for c in summary["changes"] if c["strategy"] == "prompt_caching"]
    config = read_latest(open_resources(settings).config_store, "mooncake")
    check_config(config, load_schema(settings.contracts_dir))
    assert config["routes"]["conversation"]["prompt_caching"] == {"enabled": True, "ttl_s": 300.0}
    # by hand: replay the trace's block hashes with a 5-minute prefix cache
    trace = pd.read_json(REAL / "mooncake_conversation_trace.jsonl", lines=True)
    seen, hit_tokens = {}, 0.0
    for ts, blocks, prompt in zip(trace["timestamp"] / 1000.0, trace["hash_ids"], trace["input_length"]):
        hits = 0
        while hits < len(blocks) and ts - seen.get(blocks[hits], -1e9) <= 300:
            hits += 1
        seen.update({b: ts for b in blocks})
        hit_tokens += hits * prompt / len(blocks)
    share = hit_tokens / trace["input_length"].sum()
    evidence = next(c for c in config["changes"] if c["strategy"] == "prompt_caching")["evidence"]
    assert evidence["cacheable_share"] == pytest.approx(share, abs=0.001) and 0.2 < share < 0.4
    written = trace["input_length"].sum() - hit_tokens        # claude-3.5-sonnet: read $0.30/M, write $3.75/M, input $3/M
    assert change["expected_savings_usd_per_day"] == pytest.approx(
        (hit_tokens * 2.7e-06 - written * 0.75e-06) * 24, rel=0.002)
