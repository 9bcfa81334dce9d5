"""The decision lifecycle: review in the Prefect UI (through its API), expiry, monitoring, rollback, CLI."""

import threading
import time
from datetime import timedelta

import pytest
from prefect.client.orchestration import get_client
from prefect.flow_runs import resume_flow_run

from tests.gateway import read_latest
from llmopt.flows.hourly_optimization import hourly_optimization
from llmopt.flows.post_change_monitor import post_change_monitor
from llmopt.cli import main as cli
from llmopt.publish.service_config import check_config, load_schema
from llmopt.publish.publishing import latest_config, published_versions
from llmopt.experiments.simulation import ArmTruth, route_requests
from llmopt.resources import open_resources
from llmopt.decide.monitor import published_at
from llmopt.resources import open_resources
from tests.conftest import WINDOW_END, WINDOW_START

pytestmark = pytest.mark.usefixtures("prefect_harness")


def paused_run_id(deadline: float) -> str:
    with get_client(sync_client=True) as client:
        while time.time() < deadline:
            paused = [r for r in client.read_flow_runs() if r.state_type and r.state_type.value == "PAUSED"]
            if paused:
                return str(paused[0].id)
            time.sleep(1)
    raise AssertionError("the flow never paused for review")


def test_the_flow_pauses_for_review_and_publishes_only_what_was_approved(write_settings, traffic_hour):
    path, settings = write_settings(policy={"approval": "manual", "approval_timeout_minutes": 5})
    open_resources(settings).request_log.append(traffic_hour)
    result = {}
    runner = threading.Thread(target=lambda: result.update(
        summary=hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path))))
    runner.start()
    run_id = paused_run_id(time.time() + 240)

    store = open_resources(settings).decision_store
    proposed = {(d.service, d.task_type): d.id for d in store.list(state="proposed")}
    assert set(proposed) == {("support", "classify_ticket"), ("search", "summarize"), ("search", "extract_entities")}
    verdicts = {f"decision_{i}": "approve" for i in proposed.values()}
    verdicts[f"decision_{proposed[('search', 'extract_entities')]}"] = "reject"
    resume_flow_run(run_id, run_input={**verdicts, "reviewer": "alice", "note": "checked the evidence"})
    runner.join(timeout=300)

    summary = result["summary"]
    assert summary["status"] == "published"
    search = read_latest(open_resources(settings).config_store, "search")
    check_config(search, load_schema(settings.contracts_dir))
    assert search["routes"]["summarize"]["model"] == "gpt-4o-mini"
    assert search["routes"]["extract_entities"]["model"] == "gpt-4o"          # rejected: unchanged
    approved = store.get(proposed[("search", "summarize")])
    assert (approved.state, approved.config_version) == ("monitoring", search["version"])
    trail = [(e["to_state"], e["actor"]) for e in store.history(approved.id)]
    assert trail[:2] == [("proposed", f"hourly-optimization {summary['prefect_flow_run_id']}"),
                         ("approved", "person:alice")]
    assert [s for s, _ in trail[2:]] == ["published", "monitoring"]
    assert store.get(proposed[("search", "extract_entities")]).state == "rejected"


def test_an_unreviewed_decision_expires_and_nothing_is_published(write_settings, traffic_hour):
    path, settings = write_settings(policy={"approval": "manual", "approval_timeout_minutes": 0.05})
    open_resources(settings).request_log.append(traffic_hour.iloc[::2])
    summary = hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path))
    assert summary["published"] == [] and summary["changes"]
    assert {c["state"] for c in summary["changes"]} == {"expired"}
    assert {d.state for d in open_resources(settings).decision_store.list()} == {"expired"}


def publish_summarize_switch(write_settings, traffic_hour):
    path, settings = write_settings()
    open_resources(settings).request_log.append(traffic_hour)
    hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path))
    store = open_resources(settings).decision_store
    decision = next(d for d in store.list(state="monitoring") if d.task_type == "summarize")
    return path, settings, decision, published_at(open_resources(settings), decision.id)


def test_the_monitor_rolls_back_a_change_that_hurt_quality(write_settings, traffic_hour):
    path, settings, decision, since = publish_summarize_switch(write_settings, traffic_hour)
    log = open_resources(settings).request_log
    # baseline: gpt-4o at 0.88 the day before; after the switch gpt-4o-mini truly scores 0.80
    log.append(route_requests("search", "summarize", "gpt-4o", ArmTruth(0.88), since - timedelta(hours=24), 24, 4000, 1))
    log.append(route_requests("search", "summarize", "gpt-4o-mini", ArmTruth(0.80), since, 6, 1500, 2))
    before = published_versions(open_resources(settings).config_store, "search")

    [result] = [r for r in post_change_monitor(now=since + timedelta(hours=6), config_file=str(path))
                if r["decision_id"] == decision.id]

    assert result["outcome"] == "rolled_back"
    assert result["quality_change"]["effect"] == pytest.approx(-0.08, abs=0.01)
    search = read_latest(open_resources(settings).config_store, "search")
    check_config(search, load_schema(settings.contracts_dir))
    assert search["version"] == max(before) + 1 == result["rollback_version"]     # a new version, nothing deleted
    assert search["routes"]["summarize"]["model"] == "gpt-4o"
    assert search["routes"]["extract_entities"]["model"] == "gpt-4o-mini"          # other changes stay
    assert search["changes"][0]["strategy"] == "rollback"
    assert open_resources(settings).decision_store.get(decision.id).state == "rolled_back"


def test_the_monitor_confirms_a_change_that_held(write_settings, traffic_hour):
    path, settings, decision, since = publish_summarize_switch(write_settings, traffic_hour)
    log = open_resources(settings).request_log
    log.append(route_requests("search", "summarize", "gpt-4o", ArmTruth(0.88), since - timedelta(hours=24), 24, 4000, 1))
    log.append(route_requests("search", "summarize", "gpt-4o-mini", ArmTruth(0.878), since, 24, 4000, 3))

    halfway = post_change_monitor(now=since + timedelta(hours=12), config_file=str(path))
    assert {r["decision_id"]: r["outcome"] for r in halfway}[decision.id] == "monitoring"
    done = post_change_monitor(now=since + timedelta(hours=25), config_file=str(path))
    assert {r["decision_id"]: r["outcome"] for r in done}[decision.id] == "confirmed"
    assert open_resources(settings).decision_store.get(decision.id).state == "confirmed"


def test_decisions_and_rollback_from_the_command_line(write_settings, traffic_hour, capsys):
    path, settings = write_settings(policy={"approval": "manual"})
    open_resources(settings).request_log.append(traffic_hour)
    hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path))
    store = open_resources(settings).decision_store
    proposed = {d.task_type: d.id for d in store.list(state="proposed")}
    assert cli(["--config", str(path), "decisions", "list", "--state", "proposed"]) == 0
    listed = capsys.readouterr().out
    assert all(f"#{i} " in listed for i in proposed.values()) and "proposed" in listed

    def run(*argv) -> int:
        return cli(["--config", str(path), *argv])

    assert run("decisions", "approve", str(proposed["summarize"]), "--by", "carol", "--note", "looks right") == 0
    assert "published search v1" in capsys.readouterr().out
    assert run("decisions", "approve", str(proposed["extract_entities"]), "--by", "carol") == 0
    assert run("decisions", "reject", str(proposed["classify_ticket"]), "--by", "dave") == 0
    assert run("decisions", "approve", str(proposed["classify_ticket"]), "--by", "dave") == 1   # rejected is final
    assert "is rejected; it cannot become approved" in capsys.readouterr().err

    store_ = open_resources(settings).config_store
    search = read_latest(store_, "search")
    check_config(search, load_schema(settings.contracts_dir))
    assert search["version"] == 2 and search["routes"] == {
        "extract_entities": {"model": "gpt-4o-mini", "provider": "openai"},
        "summarize": {"model": "gpt-4o-mini", "provider": "openai"}}
    assert latest_config(store_, "support") is None
    assert store.get(proposed["summarize"]).state == "monitoring"

    assert run("configs", "rollback", "search", "--to", "1", "--by", "erin", "--reason", "complaints") == 0
    search = read_latest(store_, "search")
    check_config(search, load_schema(settings.contracts_dir))
    assert search["version"] == 3 and search["routes"] == {
        "extract_entities": {"model": "gpt-4o", "provider": "openai"},      # as before v2 changed it
        "summarize": {"model": "gpt-4o-mini", "provider": "openai"}}
    assert [c["strategy"] for c in search["changes"]] == ["rollback"]
    assert published_versions(store_, "search") == [1, 2, 3]


def test_a_settings_decision_approved_by_hand_lands_in_model_settings(write_settings, traffic_hour):
    path, settings = write_settings(strategies=["reliability"], policy={"approval": "manual"})
    open_resources(settings).request_log.append(traffic_hour.iloc[::4])
    hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path))
    store = open_resources(settings).decision_store
    proposed = [d for d in store.list(state="proposed") if d.strategy == "reliability" and d.service == "search"]
    assert proposed and all(d.to_route["timeout_s"] for d in proposed)
    decision = proposed[0]
    assert cli(["--config", str(path), "decisions", "approve", str(decision.id), "--by", "frank"]) == 0
    search = read_latest(open_resources(settings).config_store, "search")
    check_config(search, load_schema(settings.contracts_dir))
    assert search["model_settings"][decision.to_route["model"]]["timeout_s"] == decision.to_route["timeout_s"]
    assert search["routes"] == {}          # the first config of the service carries only the approved settings
    # a re-run proposes the same settings again: the open decision is reused, not duplicated
    hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path))
    again = [d for d in store.list(state="proposed") if d.strategy == "reliability" and d.service == "search"]
    assert len(again) == len(proposed) - 1
