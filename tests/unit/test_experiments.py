"""Experiments: assignment hash, per-variant statistics in SQL, and the hourly call."""

import hashlib
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from llmopt.client import assign, bucket
from llmopt.experiments.analysis import BLOCKED_SRM, GUARDRAIL_BREACHED, KEEP_RUNNING, NO_DIFFERENCE, SHIP, \
    analyze_experiment
from llmopt.experiments.definitions import ExperimentDefinition
from llmopt.experiments.simulation import ArmTruth, experiment_requests
from llmopt.prices import PriceMap
from llmopt.settings import BUNDLED_PRICES
from llmopt.extract.sql_statistics import read_variant_statistics
from llmopt.extract.sql_source import SqlRequestLog

START = datetime(2026, 11, 19, tzinfo=timezone.utc)
PRICES = PriceMap.from_file(BUNDLED_PRICES)


def definition(**overrides) -> ExperimentDefinition:
    values = dict(id="summarize-mini", service="search", task_type="summarize", control="current",
                  variants=[{"name": "current", "weight": 0.5, "model": "gpt-4o", "provider": "openai"},
                            {"name": "mini", "weight": 0.5, "model": "gpt-4o-mini", "provider": "openai"}],
                  primary_metric="cost_per_request",
                  guardrails=[{"metric": "quality", "margin": 0.02},
                              {"metric": "error_rate", "margin": 0.01, "relative": False}],
                  salt="2026-11", start=START, min_runtime_hours=12)
    values.update(overrides)
    return ExperimentDefinition(**values)


def test_assignment_follows_the_documented_algorithm_and_weights():
    exp = definition(variants=[{"name": "a", "weight": 1, "model": "gpt-4o", "provider": "openai"},
                               {"name": "b", "weight": 3, "model": "gpt-4o-mini", "provider": "openai"}], control="a")
    # the README's algorithm, written out independently
    digest = hashlib.sha256(b"2026-11:summarize-mini:user-42").digest()
    u = int.from_bytes(digest[:8], "big") / 2 ** 64
    assert bucket("2026-11", "summarize-mini", "user-42") == u
    assert assign(exp, "user-42") == ("a" if u < 0.25 else "b")
    # stable across calls and across the config's JSON form
    entry = exp.config_entry()
    assert all(assign(exp, f"u{i}") == assign(entry, f"u{i}") for i in range(500))
    counts = Counter(assign(entry, f"u{i}") for i in range(20_000))
    assert counts["b"] / 20_000 == pytest.approx(0.75, abs=0.01)     # 4.6 standard errors


def stats_from_sql(tmp_path, frame, exp):
    log = SqlRequestLog(f"sqlite:///{tmp_path}/requests.db", "llm_requests", "llm_requests_quarantine")
    log.ensure_tables()
    log.append(frame)
    return read_variant_statistics(log, exp.id, START, START + timedelta(days=2), PRICES,
                                   sorted({v.model for v in exp.variants}))


def test_variant_statistics_are_aggregated_in_sql_exactly(tmp_path):
    exp = definition()
    frame = experiment_requests(exp, {"current": ArmTruth(0.88), "mini": ArmTruth(0.878)}, START, 6, 300, seed=1)
    stats = stats_from_sql(tmp_path, frame, exp)
    frame["cost"] = PRICES.fill_cost(frame)
    for name, rows in frame.groupby("variant"):
        got = stats[name]
        assert got.units == len(rows)
        scored = rows["quality_score"].dropna()
        assert got.metrics["quality"].n == len(scored)
        assert got.metrics["quality"].mean == pytest.approx(scored.mean(), rel=1e-12)
        assert got.metrics["quality"].variance == pytest.approx(scored.var(), rel=1e-9)
        assert got.metrics["cost_per_request"].mean == pytest.approx(rows["cost"].mean(), rel=1e-9)
        assert got.metrics["error_rate"].successes == int((rows["status"] != "ok").sum())
        assert got.metrics["latency"].mean == pytest.approx(rows["latency_ms"].mean(), rel=1e-12)


def test_a_cheaper_arm_that_keeps_quality_ships(tmp_path):
    exp = definition()
    frame = experiment_requests(exp, {"current": ArmTruth(0.88), "mini": ArmTruth(0.878)}, START, 24, 400, seed=5)
    call = analyze_experiment(exp, stats_from_sql(tmp_path, frame, exp), hours_run=24)
    assert (call.call, call.ship_variant) == (SHIP, "mini")
    assert {c.metric: c.verdict for c in call.comparisons} == {
        "cost_per_request": "better", "quality": "non-inferior", "error_rate": "non-inferior"}


def test_a_winner_waits_for_min_runtime(tmp_path):
    exp = definition(min_runtime_hours=48)
    frame = experiment_requests(exp, {"current": ArmTruth(0.88), "mini": ArmTruth(0.878)}, START, 24, 400, seed=5)
    call = analyze_experiment(exp, stats_from_sql(tmp_path, frame, exp), hours_run=24)
    assert call.call == KEEP_RUNNING and call.hours_still_needed == pytest.approx(24)


def test_a_quality_drop_beyond_the_margin_stops_the_experiment(tmp_path):
    exp = definition()
    frame = experiment_requests(exp, {"current": ArmTruth(0.88), "mini": ArmTruth(0.80)}, START, 24, 400, seed=6)
    call = analyze_experiment(exp, stats_from_sql(tmp_path, frame, exp), hours_run=24)
    assert call.call == GUARDRAIL_BREACHED and "mini: quality" in call.reason


def test_a_skewed_split_blocks_every_decision(tmp_path):
    exp = definition()
    frame = experiment_requests(exp, {"current": ArmTruth(0.88), "mini": ArmTruth(0.878)}, START, 24, 400, seed=5)
    # a logging bug drops a fifth of the mini arm's requests
    frame = frame.drop(frame[frame["variant"] == "mini"].index[::5])
    call = analyze_experiment(exp, stats_from_sql(tmp_path, frame, exp), hours_run=24)
    assert call.call == BLOCKED_SRM and call.srm.p_value < 1e-3 and call.ship_variant is None


def test_an_aa_experiment_finds_no_difference_and_ships_nothing(tmp_path):
    exp = definition(variants=[{"name": "current", "weight": 0.5, "model": "gpt-4o", "provider": "openai"},
                               {"name": "same", "weight": 0.5, "model": "gpt-4o", "provider": "openai"}],
                     primary_metric="quality", guardrails=[], minimum_effect=0.02, max_runtime_hours=72)
    frame = experiment_requests(exp, {"current": ArmTruth(0.88), "same": ArmTruth(0.88)}, START, 72, 300, seed=8)
    call = analyze_experiment(exp, stats_from_sql(tmp_path, frame, exp), hours_run=72)
    assert call.call == NO_DIFFERENCE and call.ship_variant is None


def test_definitions_reject_a_control_that_is_not_a_variant():
    with pytest.raises(ValueError, match="control 'nope' is not one of the variants"):
        definition(control="nope")


def test_the_decision_lifecycle_allows_only_its_transitions(tmp_path):
    from llmopt.domain import Change
    from llmopt.decide.decision_store import DecisionStateError, DecisionStore

    store = DecisionStore(f"sqlite:///{tmp_path}/decisions.db")
    change = Change("search", "summarize", "routing", "gpt-4o", "openai", "gpt-4o-mini", "openai", 12.5,
                    {"quality": float("nan")}, "pending", "awaiting manual approval", START.isoformat())
    decision_id = store.propose(change, "run 1")
    assert store.get(decision_id).evidence == {"quality": None}          # NaN is not JSON: stored as null
    with pytest.raises(DecisionStateError, match="is proposed; it cannot become published"):
        store.transition(decision_id, "published", "someone")
    for state in ("approved", "published", "monitoring", "rolled_back"):
        store.transition(decision_id, state, "policy:test", config_version=3)
    with pytest.raises(DecisionStateError, match="none, it is final"):
        store.transition(decision_id, "confirmed", "policy:monitor")
    assert [e["to_state"] for e in store.history(decision_id)] == [
        "proposed", "approved", "published", "monitoring", "rolled_back"]
    assert store.get(decision_id).config_version == 3


def test_a_repeated_pending_change_reuses_its_open_decision(tmp_path):
    from llmopt.domain import Change
    from llmopt.decide.lifecycle import record_decisions
    from llmopt.resources import open_resources
    from llmopt.settings import Settings

    settings = open_resources(Settings(database_url=f"sqlite:///{tmp_path}/decisions.db"))
    change = Change("search", "summarize", "routing", "gpt-4o", "openai", "gpt-4o-mini", "openai", 12.5, {},
                    "pending", "awaiting manual approval", START.isoformat())
    first = record_decisions(settings, [change], "run 1")[0].decision_id
    again = record_decisions(settings, [change], "run 2")[0].decision_id
    other = record_decisions(settings, [replace(change, to_model="gpt-4.1-nano")], "run 2")[0].decision_id
    assert first == again != other
