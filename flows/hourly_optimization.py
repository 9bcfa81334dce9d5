"""The `hourly-optimization` flow: roll up the lookback (partition tasks) → pool → fit → evaluate → decide → publish → track."""

from datetime import datetime
from typing import Literal

from prefect import allow_failure, flow
from prefect.runtime import flow_run

from llmopt.track.summary import build_summary, busy_summary, no_traffic_summary
from llmopt.tasks.decide import decide_changes
from llmopt.tasks.decisions import mark_published, record_decisions, wait_for_review
from llmopt.tasks.evaluate import (evaluate_routing, evaluate_strategy, forecast_budgets, read_published_configs,
                                   strategies_to_evaluate)
from llmopt.tasks.experiments import analyze_experiments, record_experiments_in_mlflow, show_experiment_calls
from llmopt.tasks.fit import fit_models
from llmopt.tasks.publish import adopt_orphan_versions, publish_configs
from llmopt.tasks.runners import partition_runner
from llmopt.tasks.rollup import (keep_rollups, partition_waves, partitions_in_flight, plan_lookback, pool_evidence,
                                 rollup_partition)
from llmopt.tasks.settings import import_later_steps, load_settings, resolve_window
from llmopt.tasks.window_lock import hold_window
from llmopt.tasks.track import finish_tracking, record_run_in_mlflow, show_recommendations, start_tracking


@flow(name="hourly-optimization", log_prints=True)
def hourly_optimization(start: datetime | None = None, end: datetime | None = None, dry_run: bool = False,
                        approval: Literal["auto", "manual"] | None = None,
                        approval_timeout_minutes: float | None = None, config_file: str | None = None) -> dict:
    """Optimize on the evidence of the lookback up to the window (default: the last complete hour); publish approved configs.

    Each partition of the lookback without a stored rollup (always the window's own) is read, validated and
    reduced in its own task run (on the runner the run's settings name: threads, or a Dask cluster); the rollups
    are pooled.

    Args:
        start: window start (UTC); default the start of the last complete hour.
        end: window end (UTC, exclusive); default one hour after start.
        dry_run: evaluate and record, but publish nothing.
        approval: override the policy's approval mode for this run.
        approval_timeout_minutes: wait this long for a review of pending decisions in the UI (0: don't wait).
        config_file: settings file (default ./llmopt.yaml, then LLMOPT_* variables).

    Returns:
        The run summary as JSON (what `llmopt run --json` prints).
    """
    settings = load_settings(config_file, approval, approval_timeout_minutes)
    window = resolve_window(start, end)
    ids = {"prefect_flow_run_id": flow_run.get_id()}
    with hold_window(settings, window, ids["prefect_flow_run_id"], dry_run) as busy:
        if busy:
            return busy_summary(window, ids, busy).to_dict()
        return _optimize(settings, window, dry_run, ids)


KEEP_ROLLUPS_EVERY = 4      # new rollups stored (and progress logged) per this many partitions


def roll_up_pending(settings, pool, window) -> None:
    """Read and reduce the pool's pending partitions, a few at a time (`partitions_in_flight`), storing their rollups
    while the next wave reads, a few at a time (a rollup is small; a task run costs ~50 ms of the interpreter
    the partitions share). What was reduced is stored even when a partition fails: the re-run reuses it."""
    at_once, sharing = partitions_in_flight(settings, pool)
    with partition_runner(settings, at_once) as runner:        # threads, or the Dask cluster the settings name
        running, held = [], []
        try:
            for wave in partition_waves(pool, at_once):
                held += [f.result() for f in running]        # a failed partition stops the run here
                running = [runner.submit(rollup_partition, {"settings": settings, "partition": partition,
                                                            "fingerprint": fingerprint, "window": window,
                                                            "sharing": sharing})
                           for partition, fingerprint in wave]
                if len(held) >= KEEP_ROLLUPS_EVERY:
                    keeping, held = held, []
                    keep_rollups(settings, pool, keeping)
            held += [f.result() for f in running]
        finally:
            if held:
                keep_rollups(settings, pool, held)


def _optimize(settings, window, dry_run: bool, ids: dict[str, str | None]) -> dict:
    """The run's body, while it holds its window."""
    # opened alongside the partitions: MLflow's ~1.8 s of imports run while the reads and the engine work in C
    tracking = start_tracking.submit(settings, window, dry_run, ids["prefect_flow_run_id"])
    try:
        if not dry_run:
            adopt_orphan_versions(settings)
        pool = plan_lookback(settings, window)
        # the later steps' modules import while many partitions read and reduce in C (GIL released); not for a
        # few, which they would only slow, nor for an hour the source counts empty, whose run ends after tracking
        warmed = [allow_failure(import_later_steps.submit())] if pool.head_start_pays else []
        if pool.pending:
            roll_up_pending(settings, pool, window)
        ids["mlflow_run_id"] = tracking.result()
        evidence = pool_evidence(settings, pool)
        if evidence.empty:
            summary = no_traffic_summary(window, ids)
            finish_tracking(settings, ids["mlflow_run_id"], True, summary)
            show_recommendations(summary)
            return summary.to_dict()
        # after the head start, never alongside it (no module imported from two threads); its failure fails nothing
        models = fit_models(settings, evidence, wait_for=warmed)
        latest = read_published_configs(settings, sorted(models.cells["service"].unique()))
        evaluations = evaluate_routing(settings, window, evidence, models, latest)
        strategy_evaluations = [evaluate_strategy(settings, name, window, evidence, evaluations, latest)
                                for name in strategies_to_evaluate(settings)]
        calls = analyze_experiments(settings, window, latest)
        changes = decide_changes(settings, evaluations, calls, latest, strategy_evaluations, window.end)
        if not dry_run:
            changes = record_decisions(settings, changes, f"hourly-optimization {ids['prefect_flow_run_id']}")
            changes = wait_for_review(settings, changes, settings.policy.approval_timeout_minutes)
        outcome = publish_configs(settings, window, evaluations, changes, models, latest, ids, dry_run, calls)
        mark_published(settings, changes, outcome.published)
        budgets = forecast_budgets(settings, window, changes)
        summary = build_summary(window, evidence, models, evaluations, changes, outcome, ids, dry_run, calls,
                                strategy_evaluations, budgets)
        record_run_in_mlflow(settings, ids["mlflow_run_id"], summary, evidence, models, evaluations, outcome,
                             budgets)
        record_experiments_in_mlflow(settings, ids["mlflow_run_id"], calls)
        show_recommendations(summary)
        show_experiment_calls(calls)
    except BaseException as err:
        run_id = ids.get("mlflow_run_id") or tracking.result(raise_on_failure=False)
        if isinstance(run_id, str):                 # else the tracker itself failed: there is no run to close
            finish_tracking(settings, run_id, False, error=f"{type(err).__name__}: {err}")
        raise
    finish_tracking(settings, ids["mlflow_run_id"], True, summary)
    return summary.to_dict()
