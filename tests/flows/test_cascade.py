"""Cascades through the flow: cheap model first where its confidence signal lets quality hold."""

import pytest

from tests.gateway import read_latest
from llmopt.flows.hourly_optimization import hourly_optimization
from llmopt.publish.service_config import check_config, load_schema
from llmopt.publish.publishing import latest_config
from llmopt.experiments.simulation import paired_requests
from llmopt.resources import open_resources
from tests.conftest import WINDOW_END, WINDOW_START

pytestmark = pytest.mark.usefixtures("prefect_harness")
# draft_reply: gpt-4o answers 86% right, gpt-4o-mini 79% — too far below for a full switch at a 0.02 margin
CORRECT = {"gpt-4o": 0.86, "gpt-4o-mini": 0.79}


@pytest.mark.parametrize("signal, cascades", [(3.0, True), (0.0, False)], ids=["informative", "uninformative"])
def test_a_cascade_ships_only_with_an_informative_confidence_signal(write_settings, signal, cascades):
    path, settings = write_settings(strategies=["routing", "cascade"])
    log = open_resources(settings).request_log
    log.append(paired_requests("support", "draft_reply", "gpt-4o", "gpt-4o-mini", 6000, CORRECT, signal,
                               WINDOW_START, 1, seed=4))

    summary = hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path))

    routing = next(r for r in summary["recommendations"] if r["task_type"] == "draft_reply")
    assert routing["recommended_model"] == ""                   # the full switch is rejected
    changes = [c for c in summary["changes"] if c["strategy"] == "cascade"]
    assert bool(changes) is cascades
    if not cascades:
        return
    config = read_latest(open_resources(settings).config_store, "support")
    check_config(config, load_schema(settings.contracts_dir))
    route = config["routes"]["draft_reply"]
    assert route["model"] == "gpt-4o-mini" and route["cascade"]["escalate_to"]["model"] == "gpt-4o"
    evidence = next(c for c in config["changes"] if c["strategy"] == "cascade")["evidence"]
    estimate, low, high = evidence["quality_difference"]
    assert low >= -0.02 and 0 < evidence["escalation_rate"] < 1        # measured on the held-out half
    assert evidence["latency_p95_ms"] > 0 and evidence["current_latency_p95_ms"] > 0
    assert changes[0]["expected_savings_usd_per_day"] > 0
