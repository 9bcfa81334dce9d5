"""Analyse running experiments, record them in MLflow and show them on the Prefect run."""

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from llmopt.publish.config_model import LatestConfigs
from llmopt import pipeline
from llmopt.experiments.analysis import ExperimentCall
from llmopt.experiments.reporting import comparison_rows, record_calls
from llmopt.domain import Window
from llmopt.resources import open_resources
from llmopt.settings import Settings
from llmopt.tasks.retries import retry_if_transient


@task(name="analyze-experiments", retries=2,
      retry_condition_fn=retry_if_transient, retry_delay_seconds=[10, 60], timeout_seconds=600, cache_policy=NO_CACHE)
def analyze_experiments(settings: Settings, window: Window, latest: LatestConfigs) -> list[ExperimentCall]:
    """Per running experiment: per-variant statistics since its start (in SQL, or from the rollups), then the call."""
    return pipeline.analyze_experiments(open_resources(settings), window, latest)


@task(name="record-experiments", retries=2,
      retry_condition_fn=retry_if_transient, retry_delay_seconds=[10, 60], timeout_seconds=300, cache_policy=NO_CACHE)
def record_experiments_in_mlflow(settings: Settings, parent_run_id: str, calls: list[ExperimentCall]) -> list[str]:
    """A nested MLflow run per experiment: effects, intervals, p-values, chance to win, the call."""
    return record_calls(open_resources(settings).tracker, parent_run_id, calls, {d.id: d for d in settings.experiments})


@task(name="show-experiments", retries=1,
      retry_condition_fn=retry_if_transient, timeout_seconds=60, cache_policy=NO_CACHE)
def show_experiment_calls(calls: list[ExperimentCall]) -> None:
    """A table artifact per experiment on the Prefect run."""
    for call in calls:
        key = "experiment-" + "".join(ch if ch.isalnum() else "-" for ch in call.experiment_id.lower())
        create_table_artifact(key=key, table=comparison_rows(call) or [{"call": call.label, "reason": call.reason}],
                              description=f"{call.experiment_id}: **{call.label}** — {call.reason}")
