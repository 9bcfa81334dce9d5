"""The closed loop from zero exploration (issue 10's targets, on 12 simulated hours of 3,000 requests per task):
the real flow explores, finds the cheaper model where one is good enough, and ramps it in; never elsewhere."""

import json
from dataclasses import replace

import pytest

from llmopt.benchmark.closed_loop import loop_summary, loop_totals, run_loop
from llmopt.benchmark.worlds import worlds
from llmopt.domain import ConfigKeys
from llmopt.flows.hourly_optimization import hourly_optimization
from llmopt.publish.publishing import latest_config, published_versions, read_config
from llmopt.resources import open_resources
from llmopt.settings import Settings
from llmopt.track.summary import RunSummary, format_summary

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_exploration_finds_and_ramps_in_the_good_cheaper_model_within_12_hours(tmp_path):
    world = next(w for w in worlds() if w.name == "clear-win")
    base = Settings(mlflow_tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    log, truths, settings = run_loop(world, base, hourly_optimization, hours=12, workdir=tmp_path, progress=lambda _: None)
    summary = loop_summary(world.name, log, truths, settings).set_index("task_type")
    totals = loop_totals(summary.reset_index())
    good = ["classify_ticket", "summarize", "extract_entities"]
    assert (summary.loc[good, "final"] == "gpt-4o-mini").all(), summary[["final", "hours_to_move"]]
    assert (summary.loc[good, "hours_to_move"] <= 11).all()
    others = summary.drop(index=good)
    assert (others["final"] == others["oracle"]).all()           # no cheaper model is good enough there: no move
    assert totals["violations"] == 0 and totals["false_changes"] == 0
    assert totals["largest_exploration_share"] <= 0.05           # realized, hour by hour, before any decision
    assert totals["quality_lost_within_bound"]

    # the audit trail: the exploration's start, re-allocations and conclusion, then each ramp step, are changes
    res = open_resources(settings)
    support = res.config_store
    strategies = [c.strategy for v in published_versions(support, "support")
                  for c in read_config(support, ConfigKeys.version("support", v)).changes if c.task_type == "classify_ticket"]
    assert strategies[0] == "exploration" and "routing" in strategies and strategies.count("canary") == 2
    config = latest_config(support, "support")
    explored = [e for e in config.experiments if e.task_type == "classify_ticket"]
    assert explored and explored[0].origin == "exploration" and explored[0].status == "concluded"
    assert explored[0].call == "switch to gpt-4o-mini"
    first = json.loads(json.dumps(read_config(support, ConfigKeys.version("support", 1)).to_dict()))
    start = next(e for e in first["experiments"] if e["task_type"] == "classify_ticket")
    assert start["variants"][0]["name"] == "serving" and sum(v["weight"] for v in start["variants"][1:]) <= 0.05
    decisions = {d.strategy for d in res.decision_store.list(None, "support")}
    assert {"exploration", "routing", "canary"} <= decisions


@pytest.mark.timeout(1800)      # 8 flow runs in a row; on a shared machine they can take longer than the default
def test_all_traffic_on_one_model_and_no_named_candidates_explores_what_the_price_map_proposes(tmp_path):
    """Issue 20: every task on gpt-4o, no `exploration_candidates`. The price map (the world's five models) proposes
    the cheaper OpenAI chat models, gpt-4o-mini and gpt-4.1-nano; the flow explores them and moves the three tasks
    where gpt-4o-mini is good enough (switching at once: no ramp), and every run says why a task is or is not
    explored."""
    clear = next(w for w in worlds() if w.name == "clear-win")
    world = replace(clear, name="one-model", policy={"exploration_candidates": None, "canary_steps": []},
                    tasks=tuple(replace(t, production_model="gpt-4o") for t in clear.tasks))
    base = Settings(mlflow_tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    summaries = []
    log, truths, settings = run_loop(world, base, lambda **kw: summaries.append(hourly_optimization(**kw)), hours=8,
                                     workdir=tmp_path, progress=lambda _: None)
    assert settings.policy.exploration_candidates is None and settings.policy.allowed_models is None
    first = summaries[0]
    assert {r["verdict"] for r in first["recommendations"]} == {
        "keep: no candidates: no other model has traffic on this task (gpt-4o served all of it)"}
    assert [(x["action"], x["candidates"]) for x in first["exploration"]] == [
        ("start", ["gpt-4o-mini", "gpt-4.1-nano"])] * 6
    printed = format_summary(RunSummary.model_validate(first))
    assert ("exploration   support/classify_ticket: start: 2 cheaper candidate(s) lack evidence: gpt-4.1-nano, "
            "gpt-4o-mini (2 proposed from the price map)") in printed

    summary = loop_summary(world.name, log, truths, settings).set_index("task_type")
    good = ["classify_ticket", "summarize", "extract_entities"]
    assert (summary.loc[good, "final"] == "gpt-4o-mini").all(), summary[["final", "hours_to_move"]]
    assert (summary.drop(index=good)["final"] == "gpt-4o").all()
    totals = loop_totals(summary.reset_index())
    assert totals["violations"] == 0 and totals["false_changes"] == 0 and totals["quality_lost_within_bound"]
    assert max(t.explored_share for t in log) <= settings.policy.exploration_max_share     # every hour
    # a task whose exploration stopped says, every run after, when it may be explored again
    last = {x["task_type"]: x for x in summaries[-1]["exploration"]}
    assert last["draft_reply"]["action"] == "none" and last["draft_reply"]["reason"].startswith("cooldown until 2026-11-")
