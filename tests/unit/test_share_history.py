"""The share history a run report plots: exploration variants, a canary and a plain route, per version."""

from llmopt.publish.config_model import ServiceConfig
from llmopt.track.shares import moving_tasks, plot_share_history, task_shares
import pandas as pd

LINEAGE = {"prefect_flow_run_id": None, "mlflow_run_id": None, "previous_version": None,
           "window_start": "2026-11-20T11:00:00+00:00", "window_end": "2026-11-20T12:00:00+00:00",
           "input_fingerprint": "0" * 64}


def config(version: int, routes: dict, experiments: list) -> ServiceConfig:
    return ServiceConfig.model_validate({
        "schema_version": "1.0", "service": "support", "version": version, "created_at": "2026-11-20T12:05:00+00:00",
        "routes": routes, "changes": [], "experiments": experiments,
        "lineage": {**LINEAGE, "window_end": f"2026-11-20T{10 + version:02d}:00:00+00:00"},
        "content_sha256": "0" * 64})


def test_shares_follow_the_exploration_then_the_canary_then_the_route():
    route = {"model": "gpt-4o", "provider": "openai"}
    explore = {"id": "explore-a", "task_type": "a", "salt": "explore-a", "control": "serving", "status": "running",
               "call": None, "origin": "exploration", "started_at": "2026-11-20T11:00:00+00:00",
               "variants": [{"name": "serving", "weight": 0.965, "model": "gpt-4o", "provider": "openai"},
                            {"name": "gpt-4o-mini", "weight": 0.035, "model": "gpt-4o-mini", "provider": "openai"}]}
    canary = {**route, "canary": {"model": "gpt-4o-mini", "provider": "openai", "weight": 0.1,
                                  "started_at": "2026-11-20T13:00:00+00:00"}}
    versions = [config(1, {"a": route, "b": route}, [explore]),
                config(2, {"a": canary, "b": route}, [{**explore, "status": "concluded", "call": "switch"}]),
                config(3, {"a": {"model": "gpt-4o-mini", "provider": "openai"}, "b": route}, [])]
    history = pd.DataFrame([row for c in versions for row in task_shares(c)])
    a = history[history["task_type"] == "a"].pivot_table(index="version", columns="model", values="share")
    assert a.loc[1, "gpt-4o-mini"] == 0.035 and a.loc[2, "gpt-4o-mini"] == 0.1 and a.loc[3, "gpt-4o-mini"] == 1.0
    assert abs(a.loc[2, "gpt-4o"] - 0.9) < 1e-12 and pd.isna(a.loc[3, "gpt-4o"])
    assert moving_tasks(history) == [("support", "a")]                  # b never moved: not plotted
    assert plot_share_history(history)[:4] == b"\x89PNG"
    assert plot_share_history(history[history["task_type"] == "b"]) is None
