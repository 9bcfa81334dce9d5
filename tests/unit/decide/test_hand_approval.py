"""A decision approved by hand takes effect as it would in a run: an exploration's re-split and conclusion, an
experiment's ship, and a settings change, each published as one new version (SQLite and a local config store)."""

from datetime import datetime, timezone

import pytest

from llmopt.decide.decision_store import DecisionStateError
from llmopt.decide.lifecycle import approve_and_publish, record_decisions
from llmopt.domain import Change
from llmopt.publish.publishing import latest_config, published_versions
from llmopt.publish.rollback import publish_routes
from llmopt.resources import open_resources
from llmopt.settings import Settings

NOW = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
ROUTE = {"model": "big", "provider": "openai"}
EXPERIMENT = {"id": "cheap-vs-big", "service": "svc", "task_type": "u", "control": "control", "salt": "s1",
              "start": "2026-11-19T00:00:00Z",
              "variants": [{"name": "control", "weight": 0.5, "model": "big", "provider": "openai"},
                           {"name": "cheap", "weight": 0.5, "model": "cheap", "provider": "openai"}]}


def exploration(weight: float, status: str = "running", call: str | None = None) -> dict:
    return {"id": "explore-t-2026112011", "task_type": "t", "salt": "explore-t-2026112011", "control": "serving",
            "variants": [{"name": "serving", "weight": round(1 - weight, 6), "model": "big", "provider": "openai"},
                         {"name": "cheap", "weight": weight, "model": "cheap", "provider": "openai"}],
            "status": status, "call": call, "origin": "exploration", "started_at": "2026-11-20T11:00:00+00:00"}


@pytest.fixture
def res(tmp_path):
    res = open_resources(Settings(database_url=f"sqlite:///{tmp_path}/r.db", config_store_uri=f"file://{tmp_path}/c",
                                  experiments=[EXPERIMENT]))
    user = {**{k: EXPERIMENT[k] for k in ("id", "task_type", "salt", "control", "variants")},
            "status": "running", "call": None}
    publish_routes(res, "svc", {"t": ROUTE, "u": ROUTE}, [], {},
                   {"model_settings": {}, "experiments": [user, exploration(0.04)]})
    return res


def pending(res, strategy: str, task: str, to: dict, to_settings: dict | None, evidence: dict) -> int:
    change = Change("svc", task, strategy, "big", "openai", to["model"], to["provider"], 1.0, evidence, "pending",
                    "policy:manual", NOW.isoformat(), to_settings=to_settings)
    return record_decisions(res, [change], "test")[0].decision_id


def experiments(res) -> dict[str, dict]:
    return {e.id: e.model_dump(mode="json") for e in latest_config(res.config_store, "svc").experiments}


def test_a_resplit_then_a_conclusion_of_an_exploration_are_published_on_approval(res):
    resplit = pending(res, "exploration", "t", ROUTE, {"exploration": exploration(0.02)}, {"exploration": "reallocate"})
    assert approve_and_publish(res, resplit, "carol").version == 2
    weights = {v["name"]: v["weight"] for v in experiments(res)["explore-t-2026112011"]["variants"]}
    assert weights == {"serving": 0.98, "cheap": 0.02}
    assert experiments(res)["cheap-vs-big"]["status"] == "running"          # the user's experiment is untouched

    done = exploration(0.02, "concluded", "switch to cheap")
    conclude = pending(res, "exploration", "t", ROUTE, {"exploration": done}, {"exploration": "conclude"})
    assert approve_and_publish(res, conclude, "carol").version == 3
    entry = experiments(res)["explore-t-2026112011"]
    assert (entry["status"], entry["call"]) == ("concluded", "switch to cheap")
    assert latest_config(res.config_store, "svc").routes["t"].model == "big"   # the switch is its own decision

    # a re-split proposed before the conclusion is stale now: approving it would revive the exploration
    stale = pending(res, "exploration", "t", ROUTE, {"exploration": exploration(0.03)}, {"exploration": "reallocate"})
    with pytest.raises(DecisionStateError, match="explore-t-2026112011 no longer runs"):
        approve_and_publish(res, stale, "carol")
    assert res.decision_store.get(stale).state == "proposed"
    assert published_versions(res.config_store, "svc") == [1, 2, 3]


def test_an_experiment_ship_approved_by_hand_switches_the_route_and_concludes_the_experiment(res):
    cheap = {"model": "cheap", "provider": "openai"}
    call = {"experiment_id": "cheap-vs-big", "call": "ship", "ship_variant": "cheap", "label": "ship cheap",
            "comparisons": [], "srm": {"ok": True}, "units": {"control": 900, "cheap": 900}, "hours_run": 48.0}
    ship = pending(res, "experiment", "u", cheap, None, call)
    assert approve_and_publish(res, ship, "carol").version == 2
    config = latest_config(res.config_store, "svc")
    assert config.routes["u"].model == "cheap" and config.routes["t"].model == "big"
    entry = experiments(res)["cheap-vs-big"]
    assert (entry["status"], entry["call"]) == ("concluded", "ship cheap")
    assert experiments(res)["explore-t-2026112011"]["status"] == "running"


def test_a_settings_change_approved_by_hand_keeps_the_experiments(res):
    evidence = {"ok_requests": 4000, "completion_p99": 200, "expected_truncation": 0.001}
    limit = pending(res, "max_tokens", "t", ROUTE, {"max_tokens": 256}, evidence)
    before = experiments(res)
    assert approve_and_publish(res, limit, "carol").version == 2
    config = latest_config(res.config_store, "svc")
    assert config.routes["t"].model_dump(exclude_none=True) == {**ROUTE, "max_tokens": 256}
    assert experiments(res) == before
