"""The closed loop: a simulated gateway serves every hour as the latest published config says, and the real flow
runs after each hour (`llmopt bench loop`).

The gateway starts with every task on its production model and no exploration. Per request it follows the
config: a running experiment (an exploration) splits by `llmopt.client.assign`, else a route's `canary` takes its
weight (by a hash of the request id), else the route's model serves. Requests behave as the world's truth says.
Scored per task: hours to the oracle's model, savings captured vs the oracle over the horizon (the oracle serves
its model from hour 0), quality lost to exploration, the largest share sent away from the serving model before a
decision, and guardrail violations of the final route.

The gateway can serve only the world's models, so the flow's price map lists exactly those (their entries of
the base price map): a world without `exploration_candidates` explores what llmopt proposes from it.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from llmopt.benchmark.oracle import TaskTruth, task_truths
from llmopt.benchmark.runner import END, world_settings
from llmopt.benchmark.worlds import World
from llmopt.client import assign, bucket
from llmopt.extract.synthetic import generate_requests
from llmopt.publish.publishing import latest_config
from llmopt.resources import open_resources
from llmopt.settings import Settings
from llmopt.track.shares import plot_share_history

LOOP_FIT_ROWS = 5_000      # per (task, model) for the latency and length fits: 168 runs in a row must stay quick
# every task starts on its production model: the user lists the models worth trying
LOOP_POLICY = {"canary_steps": [0.1, 0.5], "lookback_hours": 48,
               "exploration_candidates": ["gpt-4o-mini", "claude-3-haiku-20240307", "gpt-4.1-nano", "gpt-4o"]}


@dataclass(frozen=True)
class TaskHour:
    """What the gateway did for one task in one hour."""

    hour: int
    service: str
    task_type: str
    serving: str                    # the route's model
    shares: dict                    # model → share of the task's requests served
    explored_share: float           # share sent to exploration variants (away from the serving model)
    canary_share: float
    quality_lost: float             # Σ share × max(0, q_serving − q_model) over exploration traffic
    savings_usd: float              # vs the production model, at the true cost per request


def route_models(config, task: str, production: str, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The model serving each request id, and whether it is exploration traffic."""
    route = config.routes.get(task) if config else None
    serving = route.model if route else production
    running = [e for e in (config.experiments if config else []) if e.task_type == task and e.status == "running"]
    models = np.full(len(ids), serving, dtype=object)
    explored = np.zeros(len(ids), dtype=bool)
    if running:
        by_name = {v.name: v.model for v in running[0].variants}
        names = [assign(running[0], rid) for rid in ids]
        models[:] = [by_name[n] for n in names]
        explored[:] = [n != running[0].control for n in names]
    elif route is not None and route.canary is not None:
        take = np.array([bucket("canary", task, rid) < route.canary.weight for rid in ids])
        models[take] = route.canary.model
    return models, explored


def serve_hour(world: World, configs: dict, hour: int, start, rows_per_task: int, seed: int,
               prices) -> tuple[pd.DataFrame, list[tuple]]:
    """Every task's requests of one hour as the gateway serves them under `configs`."""
    frames, served = [], []
    for i, task in enumerate(world.tasks):
        ids = [f"loop-{start:%Y%m%d%H}-{task.task_type}-{k:05d}" for k in range(rows_per_task)]
        models, explored = route_models(configs.get(task.service), task.task_type, task.production_model, ids)
        for j, model in enumerate(sorted(set(models))):
            rows = np.flatnonzero(models == model)
            part = generate_requests(len(rows), hours=1, seed=seed * 10_000 + hour * 100 + i * 10 + j,
                                     end=start + timedelta(hours=1), exploration_share=0.0, prices=prices,
                                     tasks=(replace(task, production_model=model, traffic_share=1.0),),
                                     models=world.models)
            frames.append(part.assign(request_id=[ids[r] for r in rows]))
        served.append((task, models, explored))
    return pd.concat(frames, ignore_index=True), served


def score_hour(hour: int, served: list[tuple], configs: dict, truths: dict[tuple[str, str], TaskTruth]) -> list[TaskHour]:
    out = []
    for task, models, explored in served:
        truth = truths[(task.service, task.task_type)]
        config = configs.get(task.service)
        route = config.routes.get(task.task_type) if config else None
        serving = route.model if route else task.production_model
        shares = pd.Series(models).value_counts(normalize=True).to_dict()
        gap = {m: max(0.0, truth.quality[serving] - truth.quality[m]) for m in shares}
        explored_models = pd.Series(models[explored]).value_counts().to_dict()
        lost = sum(n * gap[m] for m, n in explored_models.items()) / len(models)
        canary = float(((models != serving) & ~explored).mean())
        saved = sum(s * truth.savings_per_day(task.production_model, m) / 24.0 for m, s in shares.items())
        out.append(TaskHour(hour, task.service, task.task_type, serving, shares, float(explored.mean()), canary,
                            float(lost), float(saved)))
    return out


def world_price_map(world: World, source: Path, folder: Path) -> Path:
    """The base price map's entries for the world's models only, written to `folder`."""
    raw = json.loads(Path(source).read_text())
    path = folder / "model_prices.json"
    path.write_text(json.dumps({m: raw[m] for m in world.models if m in raw}))
    return path


def run_loop(world: World, base: Settings, run_flow: Callable[..., dict], hours: int = 168, rows_per_task: int = 3000,
             seed: int = 1, progress: Callable[[str], None] = print,
             workdir: Path | None = None, on_hour: Callable[[list[TaskHour]], None] | None = None,
             ) -> tuple[list[TaskHour], dict[tuple[str, str], TaskTruth], Settings]:
    """Serve and optimize `hours` hours in a row; every hour's gateway view per task (`on_hour` sees it grow)."""
    prices = open_resources(base).prices
    world = replace(world, policy={**LOOP_POLICY, **world.policy})
    truths = task_truths(world, prices)
    with tempfile.TemporaryDirectory(prefix=f"llmopt-loop-{world.name}-") as tmp:
        folder = Path(workdir or tmp)
        path, settings = world_settings(world, folder, base, world.policy["lookback_hours"],
                                        {"strategies": ["routing", "exploration"], "fit_sample_rows": LOOP_FIT_ROWS,
                                         "prices_path": str(world_price_map(world, base.prices_path, folder))})
        res = open_resources(settings)
        res.request_log.ensure_tables()
        first = END - timedelta(hours=hours)
        log: list[TaskHour] = []
        for h in range(hours):
            start = first + timedelta(hours=h)
            configs = {t.service: latest_config(res.config_store, t.service) for t in world.tasks}
            frame, served = serve_hour(world, configs, h, start, rows_per_task, seed, prices)
            res.request_log.append(frame)
            log += score_hour(h, served, configs, truths)
            run_flow(start=start, end=start + timedelta(hours=1), config_file=str(path))
            moved = sum(1 for t in log[-len(world.tasks):] if t.serving != truths[(t.service, t.task_type)].production_model)
            exploring = sum(1 for t in log[-len(world.tasks):] if t.explored_share > 0)
            progress(f"{world.name} hour {h + 1}/{hours}: {exploring} task(s) exploring, {moved} moved")
            if on_hour:
                on_hour(log)
        return log, truths, settings


def loop_summary(world: str, log: list[TaskHour], truths: dict[tuple[str, str], TaskTruth], settings: Settings) -> pd.DataFrame:
    """Per task: hours to decision, savings captured vs the oracle, quality lost, largest exploration share."""
    frame = pd.DataFrame([asdict(t) for t in log])
    rows = []
    for (service, task), hours in frame.groupby(["service", "task_type"], sort=False):
        truth = truths[(service, task)]
        rules = settings.policy.for_service(service)
        oracle = truth.oracle(rules)
        final = hours["serving"].iloc[-1]
        moved = hours.index[hours["serving"] != truth.production_model]
        first_move = int(hours.loc[moved[0], "hour"]) if len(moved) else None
        oracle_usd = truth.savings_per_day(truth.production_model, oracle) / 24.0 * len(hours)
        before = hours[hours["hour"] < (first_move if first_move is not None else len(hours))]
        largest_gap = max(truth.quality[truth.production_model] - q for q in truth.quality.values())
        rows.append({
            "world": world, "service": service, "task_type": task, "oracle": oracle, "final": final,
            "hours_to_move": first_move, "oracle_savings_usd": oracle_usd,
            "captured_savings_usd": float(hours["savings_usd"].sum()),
            "captured_share": float(hours["savings_usd"].sum() / oracle_usd) if oracle_usd > 0 else None,
            "max_exploration_share": float(before["explored_share"].max()) if len(before) else 0.0,
            "exploration_hours": int((hours["explored_share"] > 0).sum()),
            "max_hourly_quality_lost": float(hours["quality_lost"].max()),
            "quality_loss_bound": rules.exploration_max_share * max(largest_gap, 0.0),
            "violation": final != truth.production_model and not truth.safe(final, truth.production_model, rules),
            "false_change": final != truth.production_model and oracle == truth.production_model})
    return pd.DataFrame(rows)


def loop_totals(summary: pd.DataFrame) -> dict:
    """The targets' figures over every task of the run."""
    safe = summary[summary["oracle_savings_usd"] > 0]
    return {"tasks": len(summary), "violations": int(summary["violation"].sum()),
            "false_changes": int(summary["false_change"].sum()),
            "largest_exploration_share": float(summary["max_exploration_share"].max()),
            "slowest_move_hours": (float(safe["hours_to_move"].max()) if len(safe) else None),
            "captured_share": (float(safe["captured_savings_usd"].sum() / safe["oracle_savings_usd"].sum())
                               if len(safe) else None),
            "quality_lost_within_bound": bool((summary["max_hourly_quality_lost"]
                                               <= summary["quality_loss_bound"] + 1e-12).all())}


def plot_shares(log: list[TaskHour], path: Path) -> Path:
    """Per task, the share of its requests each model served, hour by hour."""
    history = pd.DataFrame([{"service": t.service, "task_type": t.task_type, "at": t.hour, "model": m, "share": s}
                            for t in log for m, s in t.shares.items()])
    path.write_bytes(plot_share_history(history, "share of requests served per model", "simulated hour") or b"")
    return path
