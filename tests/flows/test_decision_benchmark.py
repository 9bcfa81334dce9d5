"""The decision-quality benchmark on two worlds: the real flow, scored against the oracle."""

import pytest

from llmopt.flows.hourly_optimization import hourly_optimization
from llmopt.benchmark.runner import run_benchmark
from llmopt.settings import Settings

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_the_flow_captures_the_safe_savings_and_changes_nothing_where_nothing_is_safe(tmp_path):
    base = Settings(mlflow_tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    table, totals, scores = run_benchmark(base, hourly_optimization, seeds=1,
                                          only=["clear-win", "none-good-enough"], progress=lambda _: None)
    by_world = table.set_index("world")
    assert totals["decisions"] == 12 and totals["violations"] == 0 and totals["false_changes"] == 0
    assert by_world.loc["clear-win", "captured_share"] >= 0.9
    assert by_world.loc["none-good-enough", "oracle_savings"] == 0
    # the oracle itself agrees with the workload's documented truth
    assert {(s.service, s.task_type) for s in scores if s.world == "clear-win" and s.oracle == "gpt-4o-mini"} == {
        ("support", "classify_ticket"), ("search", "summarize"), ("search", "extract_entities")}


def test_a_day_of_history_decides_low_traffic_tasks_and_catches_a_late_degradation(tmp_path):
    """tiny-samples (3,000 requests an hour; 0% captured on one hour) captures most of the safe savings once 24
    earlier hours are pooled (seed 1: 84%; over 5 seeds see the closing note of issue 9), and degrades-late
    (gpt-4o-mini 0.06 worse in the last 3 hours) changes nothing."""
    base = Settings(mlflow_tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    table, totals, _ = run_benchmark(base, hourly_optimization, seeds=1, only=["tiny-samples", "degrades-late"],
                                     progress=lambda _: None, history_hours=24)
    by_world = table.set_index("world")
    assert totals["violations"] == 0 and totals["false_changes"] == 0
    assert by_world.loc["tiny-samples", "captured_share"] >= 0.8
    assert by_world.loc["degrades-late", "oracle_savings"] == 0
