"""The organisation's LiteLLM proxy config: the merge, its keys and write order, stable ids, clashes, the wait."""

import hashlib
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest
import yaml

from llmopt.cli import main
from llmopt.publish.build import successor_config
from llmopt.publish.proxy_config import PROXY_KEY, proxy_config_version, render_proxy_config
from llmopt.publish.proxy_merge import ProxyConfigClash, merge_proxy_config
from llmopt.publish.publishing import adopt_orphans, publish, read_config
from llmopt.publish.service_config import load_schema
from llmopt.publish.store import LocalConfigStore, S3ConfigStore

CONTRACTS = Path(__file__).parents[2] / "data_contracts"
NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)
BASE = """\
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
litellm_settings:
  callbacks: [s3_v2]
model_list:
  - model_name: embed
    litellm_params: {model: openai/text-embedding-3-small, api_key: os.environ/OPENAI_API_KEY}
router_settings:
  num_retries: 1
"""
SUPPORT_SETTINGS = {"gpt-4o": {"provider": "openai", "timeout_s": 30, "retries": 2,
                                "fallbacks": [{"model": "claude-3-5-haiku", "provider": "anthropic"}]}}


def expected_id(service: str, alias: str, model: str) -> str:
    """The documented id: sha256 of service, alias, LiteLLM model and occurrence, joined by US (0x1f)."""
    return "llmopt-" + hashlib.sha256(f"{service}\x1f{alias}\x1f{model}\x1f0".encode()).hexdigest()[:16]


def support(version: int, canary_weight: float | None = None, previous=None):
    route = {"model": "gpt-4o", "provider": "openai"}
    if canary_weight:
        route["canary"] = {"model": "gpt-4o-mini", "provider": "openai", "weight": canary_weight,
                           "started_at": NOW.isoformat()}
    return successor_config("support", previous or {"model_settings": SUPPORT_SETTINGS}, {"chat": route}, [],
                            version, NOW, {})


def billing(version: int):
    return successor_config("billing", None, {"summarize": {"model": "gpt-4o-mini", "provider": "openai",
                                                            "max_tokens": 256}}, [], version, NOW, {})


@pytest.fixture
def base_file(tmp_path) -> Path:
    path = tmp_path / "proxy_base.yaml"
    path.write_text(BASE)
    return path


def publish_all(store, configs, base):
    return publish(store, configs, load_schema(CONTRACTS), ("litellm",), CONTRACTS, None, base)


def test_the_merge_is_the_base_file_then_every_service_in_name_order():
    body = merge_proxy_config(yaml.safe_load(BASE), [support(3, 0.1).to_dict(), billing(5).to_dict()],
                              contracts_dir=CONTRACTS)
    got = render_proxy_config(body, 7, {"support": 3, "billing": 5}).decode()
    assert got == f"""\
# LiteLLM proxy config v7 written by llmopt (billing v5, support v3)
# = litellm_base_config + every service's aliases; rewritten on each publish, do not edit.
# llmopt export for LiteLLM's Router. num_retries and timeout are per deployment (no router-wide value).
# A deployment's max_tokens is only a default: a request that sends its own max_tokens overrides it,
# so LiteLLM cannot enforce the limit (Portkey's override_params does).
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
litellm_settings:
  callbacks:
  - s3_v2
model_list:
- model_name: embed
  litellm_params:
    model: openai/text-embedding-3-small
    api_key: os.environ/OPENAI_API_KEY
- model_name: billing/summarize
  litellm_params:
    model: openai/gpt-4o-mini
    max_tokens: 256
    num_retries: 0
  model_info:
    id: {expected_id("billing", "billing/summarize", "openai/gpt-4o-mini")}
- model_name: support/chat
  litellm_params:
    model: openai/gpt-4o
    timeout: 30.0
    num_retries: 2
    weight: 0.9
  model_info:
    id: {expected_id("support", "support/chat", "openai/gpt-4o")}
- model_name: support/chat
  litellm_params:
    model: openai/gpt-4o-mini
    num_retries: 0
    weight: 0.1
  model_info:
    id: {expected_id("support", "support/chat", "openai/gpt-4o-mini")}
- model_name: anthropic/claude-3-5-haiku
  litellm_params:
    model: anthropic/claude-3-5-haiku
    num_retries: 0
  model_info:
    id: {expected_id("", "anthropic/claude-3-5-haiku", "anthropic/claude-3-5-haiku")}
router_settings:
  num_retries: 1
  routing_strategy: simple-shuffle
  fallbacks:
  - support/chat:
    - anthropic/claude-3-5-haiku
"""
    assert proxy_config_version(got.encode()) == 7


def test_two_services_sharing_a_fallback_deployment_list_it_once():
    other = successor_config("search", {"model_settings": SUPPORT_SETTINGS},
                             {"rank": {"model": "gpt-4o", "provider": "openai"}}, [], 1, NOW, {})
    body = merge_proxy_config({}, [support(1).to_dict(), other.to_dict()])
    assert [m["model_name"] for m in body["model_list"]] == ["search/rank", "anthropic/claude-3-5-haiku",
                                                             "support/chat"]
    assert body["router_settings"]["fallbacks"] == [{"search/rank": ["anthropic/claude-3-5-haiku"]},
                                                    {"support/chat": ["anthropic/claude-3-5-haiku"]}]


def test_a_name_in_the_base_file_and_in_llmopts_aliases_is_refused_naming_both(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("model_list:\n  - model_name: support/chat\n    litellm_params: {model: openai/gpt-4.1}\n")
    store = LocalConfigStore(tmp_path / "configs")
    with pytest.raises(ProxyConfigClash, match=rf"model_name 'support/chat' is both a model_list entry of "
                                               rf"litellm_base_config {base} and service support's task alias"):
        publish_all(store, [support(1)], base)
    assert store.list("") == []          # checked before the first write


def test_a_routing_strategy_that_ignores_weights_is_refused_naming_both():
    with pytest.raises(ProxyConfigClash, match="routing_strategy is 'latency-based-routing', but llmopt's "
                                               "weighted canaries and experiments need 'simple-shuffle'"):
        merge_proxy_config({"router_settings": {"routing_strategy": "latency-based-routing"}}, [support(1).to_dict()])


class RecordingStore:
    """The real store; remembers the key of every write and swap, in order."""

    def __init__(self, inner):
        self.inner, self.written = inner, []

    def write(self, key, data, *, exclusive=False):
        self.inner.write(key, data, exclusive=exclusive)
        self.written.append(key)

    def swap(self, key, data, expected_tag):
        self.inner.swap(key, data, expected_tag)
        self.written.append(key)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def check_publish_writes_the_proxy_config_last(store, base):
    recording = RecordingStore(store)
    publish_all(recording, [support(1), billing(1)], base)
    assert recording.written == [
        "support/v000001.json", "support/v000001.litellm.yaml", "support/latest.litellm.yaml", "support/latest.json",
        "billing/v000001.json", "billing/v000001.litellm.yaml", "billing/latest.litellm.yaml", "billing/latest.json",
        "litellm/proxy_config.v000001.yaml", "litellm/proxy_config.yaml"]
    stable = store.read(PROXY_KEY)
    assert stable == store.read("litellm/proxy_config.v000001.yaml")
    assert stable.startswith(b"# LiteLLM proxy config v1 written by llmopt (billing v1, support v1)\n")
    assert [m["model_name"] for m in yaml.safe_load(stable)["model_list"]] == [
        "embed", "billing/summarize", "support/chat", "anthropic/claude-3-5-haiku"]


def test_publish_writes_the_proxy_config_after_every_latest_json_local(tmp_path, base_file):
    check_publish_writes_the_proxy_config_last(LocalConfigStore(tmp_path / "configs"), base_file)


def test_publish_writes_the_proxy_config_after_every_latest_json_s3(s3_endpoint, base_file):
    bucket = f"proxy-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    store = S3ConfigStore(bucket, "team/llm", endpoint_url=s3_endpoint)
    check_publish_writes_the_proxy_config_last(store, base_file)
    keys = [o["Key"] for o in boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(
        Bucket=bucket, Prefix="team/llm/litellm/")["Contents"]]
    assert keys == ["team/llm/litellm/proxy_config.v000001.yaml", "team/llm/litellm/proxy_config.yaml"]


def test_ids_stay_across_versions_and_the_org_version_moves_only_on_change(tmp_path, base_file):
    store = LocalConfigStore(tmp_path / "configs")
    publish_all(store, [support(1)], base_file)
    first = yaml.safe_load(store.read(PROXY_KEY))
    publish_all(store, [support(2, 0.1, store_config(store, "support", 1))], base_file)   # a canary at 10%
    second = yaml.safe_load(store.read(PROXY_KEY))
    ids = {m["litellm_params"]["model"]: m["model_info"]["id"] for m in first["model_list"] if "model_info" in m}
    assert ids["openai/gpt-4o"] == expected_id("support", "support/chat", "openai/gpt-4o")
    ramp = {(m["litellm_params"]["model"], m["litellm_params"].get("weight")): m["model_info"]["id"]
            for m in second["model_list"] if m["model_name"] == "support/chat"}
    # the route's deployment keeps its id at its new weight; only the canary is a new deployment
    assert ramp == {("openai/gpt-4o", 0.9): ids["openai/gpt-4o"],
                    ("openai/gpt-4o-mini", 0.1): expected_id("support", "support/chat", "openai/gpt-4o-mini")}
    assert proxy_config_version(store.read(PROXY_KEY)) == 2
    # a new service version whose aliases are unchanged (only its lineage moved) makes no new org version
    publish_all(store, [support(3, 0.1, store_config(store, "support", 2))], base_file)
    assert proxy_config_version(store.read(PROXY_KEY)) == 2
    assert store.list("litellm/") == ["litellm/proxy_config.v000001.yaml", "litellm/proxy_config.v000002.yaml",
                                      "litellm/proxy_config.yaml"]


def store_config(store, service, version):
    return read_config(store, f"{service}/v{version:06d}.json").to_dict()


class Crash(Exception):
    pass


class CrashBefore:
    """The real store, but the process 'dies' just before it writes or swaps `key`."""

    def __init__(self, inner, key):
        self.inner, self.key = inner, key

    def write(self, key, data, *, exclusive=False):
        if key == self.key:
            raise Crash(key)
        self.inner.write(key, data, exclusive=exclusive)

    def swap(self, key, data, expected_tag):
        if key == self.key:
            raise Crash(key)
        self.inner.swap(key, data, expected_tag)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.mark.parametrize("crash_before", ["litellm/proxy_config.v000002.yaml", "litellm/proxy_config.yaml"])
def test_a_crash_while_writing_the_proxy_config_is_finished_by_the_next_adopt(tmp_path, base_file, crash_before):
    store = LocalConfigStore(tmp_path / "configs")
    publish_all(store, [support(1)], base_file)
    before = store.read(PROXY_KEY)
    with pytest.raises(Crash):
        publish_all(CrashBefore(store, crash_before), [billing(1)], base_file)
    assert store.read(PROXY_KEY) == before             # the stable key holds the whole previous version
    adopt_orphans(store, ("litellm",), CONTRACTS, None, None, base_file)
    # the orphan copy a crash left (if any) is the one swapped in: v2 either way, never a v3
    assert store.read(PROXY_KEY) == store.read("litellm/proxy_config.v000002.yaml")
    assert proxy_config_version(store.read(PROXY_KEY)) == 2
    assert "billing/summarize" in {m["model_name"] for m in yaml.safe_load(store.read(PROXY_KEY))["model_list"]}
    assert not [k for k in store.list("") if k.endswith(".tmp")]


def test_configs_wait_returns_the_version_a_later_publish_makes(tmp_path, write_settings, capsys, base_file):
    path, settings = write_settings(exports=["litellm"], litellm_base_config=str(base_file))
    store = LocalConfigStore(tmp_path / "configs")
    publish_all(store, [support(1)], base_file)
    later = threading.Timer(0.6, lambda: publish_all(store, [billing(1)], base_file))
    started = time.monotonic()
    later.start()
    try:
        code = main(["configs", "wait", "--export", "litellm", "--after", "1", "--timeout", "30", "--interval",
                     "0.1", "--config", str(path)])
    finally:
        later.join()
    assert (code, capsys.readouterr().out) == (0, "2\n")
    assert 0.6 <= time.monotonic() - started < 10


def test_configs_wait_times_out_with_one_line(tmp_path, write_settings, capsys, base_file):
    path, _ = write_settings(exports=["litellm"])
    publish_all(LocalConfigStore(tmp_path / "configs"), [support(1)], base_file)
    assert main(["configs", "wait", "--export", "litellm", "--after", "0", "--config", str(path)]) == 0
    assert capsys.readouterr().out == "1\n"          # already newer than 0: no wait
    started = time.monotonic()
    code = main(["configs", "wait", "--export", "litellm", "--after", "1", "--timeout", "0.5", "--interval", "0.2",
                 "--config", str(path)])
    out = capsys.readouterr()
    assert code == 1 and out.out == "" and 0.5 <= time.monotonic() - started < 5
    assert out.err == (f"llmopt: error: TimeoutError: no litellm proxy config newer than v1 at "
                       f"{(tmp_path / 'configs' / PROXY_KEY).as_uri()} within 0.5 s\n")


def test_two_services_meaning_different_things_by_one_fallback_alias_are_refused_naming_both():
    timed = {**SUPPORT_SETTINGS, "claude-3-5-haiku": {"provider": "anthropic", "timeout_s": 10, "retries": 0,
                                                      "fallbacks": []}}
    other = successor_config("search", {"model_settings": timed}, {"rank": {"model": "gpt-4o", "provider": "openai"}},
                             [], 1, NOW, {})
    with pytest.raises(ProxyConfigClash, match="model_name 'anthropic/claude-3-5-haiku' is both service search's "
                                               "fallback deployment and service support's fallback deployment"):
        merge_proxy_config({}, [support(1).to_dict(), other.to_dict()])
