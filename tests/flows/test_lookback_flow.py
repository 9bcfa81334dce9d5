"""The hourly flow decides on a day of pooled evidence: low-traffic tasks get decided, rollups are reused."""

import os
import socket
from datetime import timedelta

import pytest
from sqlalchemy import text

from llmopt.extract.synthetic import generate_requests
from llmopt.flows.hourly_optimization import hourly_optimization
from llmopt.resources import open_resources
from tests.conftest import WINDOW_END, WINDOW_START

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture(scope="module")
def quiet_day(prices):
    """A low-traffic day: 1,000 requests an hour, half of them exploring (~20 per candidate per hour)."""
    return generate_requests(24_000, hours=24, seed=21, end=WINDOW_END, exploration_share=0.5, prices=prices)


def switches(summary: dict) -> set[tuple[str, str]]:
    return {(c["service"], c["task_type"]) for c in summary["changes"] if c["strategy"] == "routing"}


def test_a_day_of_evidence_decides_what_one_hour_cannot(write_settings, quiet_day):
    path, settings = write_settings(policy={"lookback_hours": 1})
    open_resources(settings).request_log.append(quiet_day)
    one_hour = hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path), dry_run=True)
    assert switches(one_hour) == set()
    assert all("min_samples" in " ".join(r.get("blocked_by", [""])) or r["recommended_model"] == ""
               for r in one_hour["recommendations"])

    path, settings = write_settings(policy={"lookback_hours": 24})
    day = hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path), dry_run=True)
    assert {("search", "summarize"), ("support", "classify_ticket")} <= switches(day)
    assert day["lookback"]["hours"] == 24 and day["lookback"]["rows_pooled"] == len(quiet_day)
    assert day["rows_read"] == (quiet_day["ts"] >= WINDOW_START).sum()          # the window, validated and reported
    change = next(c for c in day["changes"] if c["task_type"] == "summarize")
    assert "pooled 24 h" in change["evidence"]

    # the next run reuses the 23 earlier hours; a late row invalidates exactly the hour it lands in
    again = hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path), dry_run=True)
    assert again["lookback"]["rollups_reused"] == 23 and switches(again) == switches(day)
    late = quiet_day[quiet_day["ts"] < WINDOW_END - timedelta(hours=5)].tail(1).assign(request_id="late-arrival")
    open_resources(settings).request_log.append(late)
    third = hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path), dry_run=True)
    assert third["lookback"]["rollups_reused"] == 22 and third["lookback"]["rows_pooled"] == len(quiet_day) + 1


def test_a_candidate_that_degrades_in_the_last_hours_is_not_chosen(write_settings, quiet_day):
    """gpt-4o-mini looks good over the day but its quality fell 0.2 in the last 3 hours: no switch to it."""
    degraded = quiet_day.copy()
    late = (degraded["ts"] >= WINDOW_END - timedelta(hours=3)) & (degraded["model"] == "gpt-4o-mini")
    degraded.loc[late, "quality_score"] = (degraded.loc[late, "quality_score"] - 0.2).clip(0, 1)
    path, settings = write_settings(policy={"lookback_hours": 24, "drift_alpha": 0.01})
    open_resources(settings).request_log.append(degraded)
    summary = hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path), dry_run=True)
    assert not any(c["to"] == "gpt-4o-mini" for c in summary["changes"]), summary["changes"]
    assert any("gpt-4o-mini quality" in d for d in summary["lookback"]["drift"])


def test_the_flow_on_a_local_dask_cluster_makes_the_same_calls(write_settings, quiet_day, tmp_path):
    path, settings = write_settings(policy={"lookback_hours": 6})
    open_resources(settings).request_log.append(quiet_day)
    local = hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path), dry_run=True)
    with open_resources(settings).engine.begin() as conn:
        conn.execute(text(f"delete from {settings.quarantine_table}"))
    path, settings = write_settings(policy={"lookback_hours": 6}, dask_workers=2,
                                    rollups_dir=str(tmp_path / "dask-rollups"))
    # the cluster is named only in the run's config file, as a deployment's `config_file` parameter names it
    on_dask = hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path), dry_run=True)
    here = f"{socket.gethostname()}:{os.getpid()}"
    assert local["lookback"]["workers"] == [here] and on_dask["lookback"]["flow_process"] == here
    assert on_dask["lookback"]["workers"] and here not in on_dask["lookback"]["workers"]     # Dask's processes
    assert on_dask["lookback"]["rollups_reused"] == 0 and on_dask["lookback"]["partitions"] == 6
    for key in ("recommendations", "rows_read", "rows_quarantined"):
        assert on_dask[key] == local[key], key
    assert [(c["service"], c["task_type"], c["change"]) for c in on_dask["changes"]] == \
        [(c["service"], c["task_type"], c["change"]) for c in local["changes"]]


def test_a_failed_window_keeps_the_earlier_hours_rollups_for_the_rerun(write_settings, quiet_day, tmp_path):
    """Rollups are stored a few partitions at a time; the hours reduced before a partition fails are stored
    all the same, so the re-run (once the window is mended) reads only what it has to."""
    from llmopt.validate.contract import ContractBreach

    six = quiet_day[quiet_day["ts"] >= WINDOW_END - timedelta(hours=6)]
    path, settings = write_settings(policy={"lookback_hours": 6}, rollups_dir=str(tmp_path / "rollups"))
    log = open_resources(settings).request_log
    log.append(six)
    with log.engine.begin() as conn:            # every row of the window breaks a row rule: a batch-level breach
        conn.execute(text(f"UPDATE {settings.requests_table} SET latency_ms = -1 WHERE ts >= :s"),
                     {"s": WINDOW_START.strftime("%Y-%m-%d %H:%M:%S")})
    with pytest.raises(ContractBreach, match="max_bad_row_share"):
        hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path), dry_run=True)
    assert len(list((tmp_path / "rollups").rglob("meta.json"))) == 5        # the five earlier hours, not the window

    with log.engine.begin() as conn:
        conn.execute(text(f"DELETE FROM {settings.requests_table} WHERE ts >= :s"),
                     {"s": WINDOW_START.strftime("%Y-%m-%d %H:%M:%S")})
    log.append(six[six["ts"] >= WINDOW_START])
    rerun = hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path), dry_run=True)
    assert rerun["lookback"]["rollups_reused"] == 5 and rerun["lookback"]["rows_pooled"] == len(six)
