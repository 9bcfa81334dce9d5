"""The max_tokens strategy through the flow: limits published on the routes, never beside a route change."""

import json
from pathlib import Path

import pytest
import yaml

from llmopt.publish.exports import check_export
from tests.gateway import node_verifies, probe_litellm, read_latest
from llmopt.flows.hourly_optimization import hourly_optimization
from llmopt.publish.service_config import check_config, load_schema
from llmopt.publish.publishing import latest_config
from llmopt.resources import open_resources
from tests.conftest import WINDOW_END, WINDOW_START

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_max_tokens_limits_are_published_with_their_expected_truncation(write_settings, traffic_hour, litellm_python,
                                                                       tmp_path):
    path, settings = write_settings(strategies=["routing", "reliability", "max_tokens"],
                                    reserved_output_providers=["openai"], exports=["litellm", "portkey"])
    open_resources(settings).request_log.append(traffic_hour)
    frame = traffic_hour[traffic_hour["status"] == "ok"]

    summary = hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path))

    limits = [c for c in summary["changes"] if c["strategy"] == "max_tokens"]
    routed = {(c["service"], c["task_type"]) for c in summary["changes"] if c["strategy"] == "routing"}
    assert limits and not routed & {(c["service"], c["task_type"]) for c in limits}
    store = open_resources(settings).config_store
    for change in limits:
        config = read_latest(store, change["service"])
        check_config(config, load_schema(settings.contracts_dir))
        limit = config["routes"][change["task_type"]]["max_tokens"]
        served = frame[(frame["task_type"] == change["task_type"]) & (frame["model"] == change["to"])]
        # by hand: at most 0.5% of the window's successful completions would have been cut
        assert limit % 64 == 0 and limit < 1024
        assert (served["completion_tokens"] > limit).mean() <= 0.005
        entry = next(c for c in config["changes"] if c["strategy"] == "max_tokens"
                     and c["task_type"] == change["task_type"])
        assert entry["from"]["max_tokens"] == 1024 and entry["to"]["max_tokens"] == limit
        assert change["change"] == f"max_tokens 1024 → {limit} on {change['to']}"      # the new limit, in words
        # openai bills reserved output here: (1024 − limit) × $10/M output tokens × requests per day
        assert change["expected_savings_usd_per_day"] == pytest.approx(
            (1024 - limit) * 1e-05 * len(traffic_hour[(traffic_hour["task_type"] == change["task_type"])
                                                      & (traffic_hour["model"] == change["to"])]) * 24, abs=0.01)

    # the published exports, before the real gateways: LiteLLM's Router routes every alias with the limit on it;
    # the Portkey configs pass the schema that agrees with Portkey 1.15.2's recorded verdicts
    for service in {c["service"] for c in summary["changes"]}:
        body = yaml.safe_load(store.read(f"{service}/latest.litellm.yaml"))
        sent = probe_litellm(litellm_python, body, tmp_path)
        assert set(sent) == {m["model_name"] for m in body["model_list"]} and all(s["answer"] == "ok" for s in sent.values())
        config = read_latest(store, service)
        for task, route in config["routes"].items():
            assert sent[f"{service}/{task}"]["max_tokens"] == route.get("max_tokens")
        check_export("portkey", json.loads(store.read(f"{service}/latest.portkey.json")), settings.contracts_dir)
    versions = sorted(Path(settings.config_store_uri.removeprefix("file://")).glob("*/v??????.json"))
    assert versions and all(v["ok"] for v in node_verifies(versions))
