"""Monitor published changes and show what happened."""

from datetime import datetime, timezone

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from llmopt.decide.monitor import monitor_published_changes
from llmopt.resources import open_resources
from llmopt.settings import Settings
from llmopt.tasks.retries import retry_if_transient


@task(name="monitor-changes", retries=1,
      retry_condition_fn=retry_if_transient, retry_delay_seconds=[30], timeout_seconds=900, cache_policy=NO_CACHE)
def monitor_changes(settings: Settings, now: datetime | None) -> list[dict]:
    """Per decision in monitoring: roll back on a regression beyond the margin, confirm after the period."""
    return [r.to_dict() for r in monitor_published_changes(open_resources(settings), now or datetime.now(timezone.utc))]


@task(name="show-monitor-results", retries=1,
      retry_condition_fn=retry_if_transient, timeout_seconds=60, cache_policy=NO_CACHE)
def show_monitor_results(results: list[dict]) -> None:
    """A table artifact: one row per monitored decision."""
    rows = [{"decision": r["decision_id"], "task": f"{r['service']}/{r['task_type']}", "outcome": r["outcome"],
             "reason": r["reason"], "quality_change": r["quality_change"]["effect"],
             "hours_observed": round(r["hours_observed"], 1), "rollback_version": r["rollback_version"]}
            for r in results]
    create_table_artifact(key="post-change-monitor", table=rows or [{"outcome": "no change under monitoring"}],
                          description="Published changes checked against their pre-change baseline")
