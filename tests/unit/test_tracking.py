"""The MLflow record on a real local store: classic-ML experiment kind, decision settings as params, signatures."""

import numpy as np
import pandas as pd
from mlflow.models import get_model_info

from llmopt.domain import Window
from llmopt.fit import fit_models
from llmopt.extract.synthetic import generate_requests
from llmopt.prices import PriceMap
from llmopt.settings import BUNDLED_PRICES, Settings
from llmopt.track.run_record import model_input_example, run_params
from llmopt.track.tracker import CLASSIC_ML, EXPERIMENT_KIND, MlflowTracker


def test_experiment_kind_params_and_model_signatures(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    tracker = MlflowTracker(uri, "exp", str(tmp_path / "art"))
    assert tracker.client.get_experiment(tracker.experiment_id).tags[EXPERIMENT_KIND] == CLASSIC_ML
    settings = Settings(strategies=["routing", "max_tokens"], exports=["portkey"], fit_sample_rows=5000)
    window = Window.resolve(pd.Timestamp("2026-11-20T10:00Z").to_pydatetime())
    run_id = tracker.start_run("r", run_params(settings, window, False), {})
    params = tracker.client.get_run(run_id).data.params
    assert (params["strategies"], params["exports"], params["fit_sample_rows"]) == (
        '["routing", "max_tokens"]', '["portkey"]', "5000")
    valid = generate_requests(3000, seed=2, end=window.end)
    models = fit_models(valid, PriceMap.from_file(BUNDLED_PRICES), sample_rows=2000)
    example = model_input_example(models.latency_p95, valid)
    assert list(example.columns) == ["model", "prompt_tokens", "completion_tokens"] and len(example) == 5
    tracker.log_models(run_id, {"latency_p95": models.latency_p95}, {"latency_p95": example})
    info = get_model_info(f"runs:/{run_id}/latency_p95")
    assert [c["name"] for c in info.signature.inputs.to_dict()] == ["model", "prompt_tokens", "completion_tokens"]
    assert np.isfinite(models.latency_p95.predict(example)).all()


def test_changes_are_described_by_the_setting_they_move():
    from llmopt.domain import Change
    from llmopt.track.summary import describe_change

    def change(strategy, old=None, new=None, to="gpt-4o"):
        return Change("s", "t", strategy, "gpt-4o", "openai", to, "openai", 0.0, {}, "approved", "x", "now",
                      from_settings=old, to_settings=new)

    assert describe_change(change("max_tokens", {"max_tokens": 1024}, {"max_tokens": 960})) == \
        "max_tokens 1024 → 960 on gpt-4o"
    assert describe_change(change("reliability", {"timeout_s": None, "retries": 0, "fallbacks": []},
                                  {"timeout_s": 24.0, "retries": 1,
                                   "fallbacks": [{"model": "m", "provider": "groq"}]})) == \
        "openai/gpt-4o: timeout unset → 24 s, retries 0 → 1, fallbacks none → groq/m"
    assert describe_change(change("prompt_caching", {"prompt_caching": None},
                                  {"prompt_caching": {"enabled": True, "ttl_s": 300.0}})) == \
        "prompt caching on for gpt-4o (TTL 300 s)"
    assert describe_change(change("routing", to="gpt-4o-mini")) == "model gpt-4o → gpt-4o-mini"


def test_change_rows_carry_their_evidence_in_one_line():
    from llmopt.domain import Change
    from llmopt.track.summary import ChangeRow

    evidence = {"expected_truncation": {"estimate": 0.003, "low": 0.002, "high": 0.0045}, "completion_p99": 871.4,
                "ok_requests": 5210}
    row = ChangeRow.of(Change("s", "t", "max_tokens", "m", "openai", "m", "openai", 1.5, evidence, "approved", "x",
                              "now", from_settings={"max_tokens": 1024}, to_settings={"max_tokens": 960}))
    assert row.evidence == "expected truncation 0.30% [0.20%, 0.45%]; completion p99 871 tokens over 5210 successful requests"
    assert row.to_dict()["change"] == "max_tokens 1024 → 960 on m"



def test_a_store_creation_killed_with_minus_9_leaves_a_store_the_next_run_can_use(tmp_path):
    """MLflow migrates a new SQLite store step by step; a kill between two steps must not break the next run.

    The kill lands while a migration holds a half-rebuilt table (`_alembic_tmp_*`): a file left in that state
    fails every later run with `table _alembic_tmp_metrics already exists`.
    """
    import os
    import signal
    import sqlite3
    import subprocess
    import sys

    store = tmp_path / "mlflow.db"
    code = f"from llmopt.track.tracker import MlflowTracker; MlflowTracker('sqlite:///{store}', 'exp')"
    creator = subprocess.Popen([sys.executable, "-c", code])

    def mid_migration() -> bool:
        for file in [store, *tmp_path.glob(".mlflow.db.*/mlflow.db")]:
            try:
                with sqlite3.connect(f"file:{file}?mode=ro", uri=True, timeout=0.01) as con:
                    if con.execute("SELECT 1 FROM sqlite_master WHERE name LIKE '_alembic_tmp_%'").fetchall():
                        return True
            except sqlite3.OperationalError:          # not yet a database, or locked by the writer
                pass
        return False

    while not mid_migration():
        assert creator.poll() is None, "the store was created before a migration was caught midway"
    os.kill(creator.pid, signal.SIGKILL)
    creator.wait(timeout=30)
    tracker = MlflowTracker(f"sqlite:///{store}", "exp")                  # the next run creates or opens it
    run_id = tracker.start_run("r", {"a": 1}, {})
    assert tracker.client.get_run(run_id).data.params == {"a": "1"}
