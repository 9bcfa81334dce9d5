"""The `experiment-analysis` flow: call every running experiment and publish what ships."""

from datetime import datetime
from typing import Literal

from prefect import flow
from prefect.runtime import flow_run

from llmopt.track.summary import experiment_summary
from llmopt.tasks.decide import decide_changes
from llmopt.tasks.decisions import mark_published, record_decisions, wait_for_review
from llmopt.tasks.evaluate import read_published_configs
from llmopt.tasks.experiments import analyze_experiments, record_experiments_in_mlflow, show_experiment_calls
from llmopt.tasks.publish import publish_configs
from llmopt.tasks.settings import load_settings, resolve_window
from llmopt.tasks.track import finish_tracking, start_tracking


@flow(name="experiment-analysis", log_prints=True)
def experiment_analysis(end: datetime | None = None, dry_run: bool = False,
                        approval: Literal["auto", "manual"] | None = None, config_file: str | None = None) -> dict:
    """Analyse every running experiment on its traffic up to `end` (default: the end of the last complete hour).

    Args:
        end: analyse traffic before this time (UTC).
        dry_run: call the experiments and record them, but publish nothing.
        approval: override the policy's approval mode for this run.
        config_file: settings file (default ./llmopt.yaml, then LLMOPT_* variables).
    """
    settings = load_settings(config_file, approval)
    window = resolve_window(None, end)
    ids = {"prefect_flow_run_id": flow_run.get_id()}
    ids["mlflow_run_id"] = start_tracking(settings, window, dry_run, ids["prefect_flow_run_id"], "experiment-analysis")
    try:
        latest = read_published_configs(settings, [])
        calls = analyze_experiments(settings, window, latest)
        changes = decide_changes(settings, [], calls, latest)
        if not dry_run:
            changes = record_decisions(settings, changes, f"experiment-analysis {ids['prefect_flow_run_id']}")
            changes = wait_for_review(settings, changes, settings.policy.approval_timeout_minutes)
        outcome = publish_configs(settings, window, [], changes, None, latest, ids, dry_run, calls)
        mark_published(settings, changes, outcome.published)
        record_experiments_in_mlflow(settings, ids["mlflow_run_id"], calls)
        show_experiment_calls(calls)
        summary = experiment_summary(window, calls, changes, outcome, ids, dry_run)
        print(summary.to_dict())
    except BaseException as err:
        finish_tracking(settings, ids["mlflow_run_id"], False, error=f"{type(err).__name__}: {err}")
        raise
    finish_tracking(settings, ids["mlflow_run_id"], True)
    return summary.to_dict()
