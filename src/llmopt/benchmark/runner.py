"""Run the real flow in every world and score its published changes: `llmopt bench decisions`."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import yaml

from llmopt.benchmark.oracle import TaskTruth, task_truths
from llmopt.benchmark.scoring import DecisionScore, score_run, summary_table
from llmopt.benchmark.worlds import World, worlds
from llmopt.publish.publishing import latest_config
from llmopt.resources import open_resources
from llmopt.settings import Settings
from llmopt.extract.synthetic import generate_requests

END = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)


def world_settings(world: World, workdir: Path, base: Settings, hours: int = 1,
                   extra: dict | None = None) -> tuple[Path, Settings]:
    """Settings for one run: fresh stores, the base MLflow store, the world's policy, a lookback of `hours`
    (and `extra` settings)."""
    values = {"database_url": f"sqlite:///{workdir}/requests.db", "config_store_uri": f"file://{workdir}/configs",
              "mlflow_tracking_uri": base.mlflow_tracking_uri, "mlflow_experiment": "llmopt-bench-runs",
              "mlflow_artifact_location": str(workdir / "mlartifacts"), "rollups_dir": str(workdir / "rollups"),
              "policy": {**base.policy.model_dump(exclude={"services"}), "lookback_hours": hours,
                         "canary_steps": [], **world.policy},     # one run decides: the switch is scored at once
              **(extra or {})}
    path = workdir / "llmopt.yaml"
    path.write_text(yaml.safe_dump(values))
    return path, Settings.load(path)


def run_world(world: World, seed: int, base: Settings, run_flow: Callable[..., dict],
              truths: dict[tuple[str, str], TaskTruth], history_hours: int = 0) -> list[DecisionScore]:
    """Generate the world's traffic (`history_hours` before the decided hour), run the flow on the last hour with
    a lookback over all of it, and score what it published against `truths`."""
    hours = max(history_hours + 1, world.hours)
    with tempfile.TemporaryDirectory(prefix=f"llmopt-bench-{world.name}-") as tmp:
        path, settings = world_settings(world, Path(tmp), base, hours)
        log = open_resources(settings).request_log
        log.ensure_tables()
        for h in range(hours):
            drifted = world.drift_tasks is not None and h >= hours - world.drift_hours
            log.append(generate_requests(world.rows_per_hour, hours=1, seed=seed * 1000 + h,
                                         end=END - timedelta(hours=hours - 1 - h),
                                         exploration_share=world.exploration_share, prices=open_resources(settings).prices,
                                         tasks=world.drift_tasks if drifted else world.tasks, models=world.models))
        run_flow(start=END - timedelta(hours=1), end=END, config_file=str(path))
        store = open_resources(settings).config_store
        routes = {}
        for service in {t.service for t in world.tasks}:
            config = latest_config(store, service)
            routes.update({(service, task): r.model for task, r in (config.routes if config else {}).items()})
        return score_run(world.name, seed, truths, routes, settings.policy)


def run_benchmark(base: Settings, run_flow: Callable[..., dict], seeds: int = 5, only: list[str] | None = None,
                  progress: Callable[[str], None] = print,
                  history_hours: int = 0) -> tuple[pd.DataFrame, dict, list[DecisionScore]]:
    """Every world × seed (with `history_hours` of traffic before the decided hour); the per-world table, the
    totals and every decision."""
    chosen = [w for w in worlds() if not only or w.name in only]
    scores: list[DecisionScore] = []
    for w in chosen:
        truths = task_truths(w, open_resources(base).prices)       # the truth does not depend on the seed
        for seed in range(1, seeds + 1):
            progress(f"world {w.name}, seed {seed} ({len(scores)} decisions so far) …")
            scores += run_world(w, seed, base, run_flow, truths, history_hours)
    table, totals = summary_table(scores, {w.name for w in chosen if w.counts_for_capture or history_hours >= 24})
    return table, totals, scores


def record_benchmark(base: Settings, table: pd.DataFrame, totals: dict, scores: list[DecisionScore]) -> str:
    """Log the table, the totals and every decision to MLflow (experiment `<mlflow_experiment>-bench`)."""
    from llmopt.track.report import markdown_table

    settings = base.model_copy(update={"mlflow_experiment": f"{base.mlflow_experiment}-bench"})
    tracker = open_resources(settings).tracker
    run_id = tracker.start_run("bench decisions", {"worlds": sorted(set(table["world"]))},
                               {"llmopt.benchmark": "decisions"})
    tracker.log_metrics(run_id, {k: v for k, v in totals.items() if isinstance(v, (int, float))})
    tracker.log_text(run_id, markdown_table(table.round(3).to_dict("records")), "decision_benchmark.md")
    tracker.log_json(run_id, [asdict(s) for s in scores], "decisions.json")
    tracker.end_run(run_id, True)
    return run_id
