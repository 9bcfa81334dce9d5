"""Record the run in MLflow and show its results as Prefect artifacts."""

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from llmopt.rollup.pool import PooledEvidence
from llmopt.fit import FittedModels
from llmopt.domain import Window
from llmopt.publish.publishing import PublishOutcome
from llmopt.track.report import markdown_table
from llmopt.track.shares import share_history
from llmopt.evaluate.routing import RoutingEvaluation
from llmopt.resources import open_resources
from llmopt.track.run_record import record_run, run_params
from llmopt.settings import Settings
from llmopt.track.summary import RunSummary, format_summary
from llmopt.tasks.retries import retry_if_transient


# one retry: the tracker's own bounded budget already retries inside each try (a dead MLflow fails in ~1 min)
@task(name="start-tracking", retries=1,
      retry_condition_fn=retry_if_transient, retry_delay_seconds=5, timeout_seconds=120, cache_policy=NO_CACHE)
def start_tracking(settings: Settings, window: Window, dry_run: bool, prefect_flow_run_id: str | None,
                   flow_name: str = "hourly-optimization") -> str:
    """Open the MLflow run of this flow run; returns its run id."""
    tags = {"prefect.flow_run_id": prefect_flow_run_id or "", "llmopt.dry_run": str(dry_run).lower(),
            "llmopt.flow": flow_name}
    return open_resources(settings).tracker.start_run(f"{flow_name} {window.start:%Y-%m-%dT%H:%M}Z",
                                           run_params(settings, window, dry_run), tags)


@task(name="record-run", retries=2,
      retry_condition_fn=retry_if_transient, retry_delay_seconds=[10, 60], timeout_seconds=600, cache_policy=NO_CACHE)
def record_run_in_mlflow(settings: Settings, run_id: str, summary: RunSummary, validation: PooledEvidence,
                         models: FittedModels, evaluations: list[RoutingEvaluation], outcome: PublishOutcome,
                         budgets: list = ()) -> None:
    """Log metrics, artifacts (recommendations, validation, configs, report, plots) and the fitted models."""
    res = open_resources(settings)
    shares = share_history(res.config_store, sorted({e.service for e in evaluations}))
    record_run(res.tracker, run_id, summary, validation, models, evaluations, outcome, list(budgets), shares)


@task(name="finish-tracking", retries=3,
      retry_condition_fn=retry_if_transient, retry_delay_seconds=[5, 30, 120], timeout_seconds=60, cache_policy=NO_CACHE)
def finish_tracking(settings: Settings, run_id: str, succeeded: bool, summary: RunSummary | None = None,
                    error: str | None = None) -> None:
    """Close the MLflow run as FINISHED or FAILED (with the error as a tag)."""
    tracker = open_resources(settings).tracker
    if summary is not None and summary.status == "no traffic":
        tracker.set_tags(run_id, {"llmopt.status": "no traffic"})
    if error is not None:
        tracker.set_tags(run_id, {"llmopt.status": "failed", "llmopt.error": error[:5000]})
    tracker.end_run(run_id, succeeded)


@task(name="show-recommendations", retries=1,
      retry_condition_fn=retry_if_transient, timeout_seconds=60, cache_policy=NO_CACHE)
def show_recommendations(summary: RunSummary) -> None:
    """A table artifact of the routing calls and a markdown summary on the Prefect run."""
    if summary.recommendations:
        create_table_artifact(key="routing-recommendations", table=summary.recommendations,
                              description=f"Routing calls for {summary.window.start}")
    body = ("```\n" + format_summary(summary) + "\n```\n\n" + markdown_table([c.to_dict() for c in summary.changes])
            + f"\n\nReport with plots: MLflow run `{summary.mlflow_run_id}`, artifact `report/report.html`.\n")
    create_markdown_artifact(key="optimization-summary", markdown=body, description=f"MLflow run {summary.mlflow_run_id}")


@task(name="start-monitor-tracking", retries=3,
      retry_condition_fn=retry_if_transient, retry_delay_seconds=[5, 30, 120], timeout_seconds=120,
      cache_policy=NO_CACHE)
def start_monitor_tracking(settings: Settings, prefect_flow_run_id: str | None) -> str:
    """Open the MLflow run of a post-change-monitor run."""
    return open_resources(settings).tracker.start_run("post-change-monitor", {"policy": settings.policy.model_dump(
        include={"monitor_hours", "quality_margin", "max_error_rate", "confidence"})},
        {"prefect.flow_run_id": prefect_flow_run_id or "", "llmopt.flow": "post-change-monitor"})


@task(name="record-monitor-results", retries=2,
      retry_condition_fn=retry_if_transient, retry_delay_seconds=[10, 60], timeout_seconds=120,
      cache_policy=NO_CACHE)
def record_monitor_results(settings: Settings, run_id: str, results: list[dict]) -> None:
    """Counts per outcome as metrics and every result as JSON."""
    tracker = open_resources(settings).tracker
    tracker.log_metrics(run_id, {f"decisions_{o}": sum(r["outcome"] == o for r in results)
                                 for o in ("rolled_back", "confirmed", "monitoring")})
    tracker.log_json(run_id, results, "monitor_results.json")
