"""Under `approval: manual` an exploration start waits for a person; approving it by hand publishes the split,
as an hourly run under `auto` would have, and a stale start for the same task cannot be approved after it."""

from datetime import timedelta

import pytest

from llmopt.cli import main as cli
from llmopt.decide.decision_store import DecisionStateError
from llmopt.decide.lifecycle import approve_and_publish
from llmopt.extract.synthetic import generate_requests
from llmopt.flows.hourly_optimization import hourly_optimization
from llmopt.publish.publishing import latest_config, published_versions
from llmopt.publish.service_config import check_config, load_schema
from llmopt.resources import open_resources
from tests.conftest import WINDOW_END, WINDOW_START
from tests.gateway import read_latest

pytestmark = pytest.mark.usefixtures("prefect_harness")

HOUR = timedelta(hours=1)
# every task only on its production model: gpt-4o-mini has no evidence yet, so a run proposes to explore it
POLICY = {"approval": "manual", "exploration_candidates": ["gpt-4o-mini"], "exploration_max_share": 0.05}


def explore_settings(write_settings, prices):
    path, settings = write_settings(strategies=["routing", "exploration"], policy=POLICY)
    traffic = generate_requests(12_000, hours=2, seed=5, end=WINDOW_END + HOUR, exploration_share=0.0, prices=prices)
    open_resources(settings).request_log.append(traffic)
    return path, settings


def pending_starts(settings, task_type: str) -> list:
    return [d for d in open_resources(settings).decision_store.list("proposed", "support")
            if d.strategy == "exploration" and d.task_type == task_type]


def test_approving_an_exploration_start_by_hand_publishes_its_split(write_settings, prices, capsys):
    path, settings = explore_settings(write_settings, prices)
    summary = hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path))
    assert summary["published"] == []                      # manual: nothing is published before a person decides
    [start] = pending_starts(settings, "classify_ticket")
    shares = start.evidence["shares"]
    assert set(shares) == {"gpt-4o-mini"} and 0 < shares["gpt-4o-mini"] <= 0.05
    store = open_resources(settings).config_store
    assert published_versions(store, "support") == []

    assert cli(["--config", str(path), "decisions", "approve", str(start.id), "--by", "carol"]) == 0
    assert "published support v1" in capsys.readouterr().out

    config = read_latest(store, "support")
    check_config(config, load_schema(settings.contracts_dir))
    assert config["version"] == 1 and published_versions(store, "support") == [1]
    [entry] = [e for e in config["experiments"] if e["task_type"] == "classify_ticket"]
    assert entry["id"] == f"explore-classify_ticket-{WINDOW_END:%Y%m%d%H}" == entry["salt"]
    assert (entry["origin"], entry["status"], entry["control"]) == ("exploration", "running", "serving")
    weights = {v["name"]: (v["model"], v["weight"]) for v in entry["variants"]}
    assert weights == {"serving": ("gpt-4o", pytest.approx(1 - shares["gpt-4o-mini"], abs=1e-6)),
                       "gpt-4o-mini": ("gpt-4o-mini", pytest.approx(shares["gpt-4o-mini"], abs=1e-6))}
    assert config["changes"][0]["strategy"] == "exploration" and config["changes"][0]["decision"]["id"] == start.id
    decisions = open_resources(settings).decision_store
    assert (decisions.get(start.id).state, decisions.get(start.id).config_version) == ("monitoring", 1)

    # the next run sees the exploration running: it holds the task's route and proposes no second start
    hourly_optimization(start=WINDOW_END, end=WINDOW_END + HOUR, config_file=str(path))
    assert latest_config(store, "support").version == 1
    assert [d.evidence["exploration"] for d in pending_starts(settings, "classify_ticket")] in ([], ["reallocate"])


def test_a_second_start_for_a_task_cannot_be_approved_once_one_runs(write_settings, prices):
    path, settings = explore_settings(write_settings, prices)
    hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path))
    hourly_optimization(start=WINDOW_END, end=WINDOW_END + HOUR, config_file=str(path))
    first, second = pending_starts(settings, "classify_ticket")   # nobody reviewed the first: the next hour asks again
    res = open_resources(settings)
    assert approve_and_publish(res, first.id, "carol").version == 1

    with pytest.raises(DecisionStateError, match=f"exploration {first.evidence['experiment_id']} already runs"):
        approve_and_publish(res, second.id, "carol")
    assert res.decision_store.get(second.id).state == "proposed"    # still open: a person rejects it
    assert published_versions(res.config_store, "support") == [1]
