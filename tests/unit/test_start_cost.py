"""What a run pays before it reads a row: the flow module imports none of the later steps' heavy modules, the
lazy modules import on first use, and the head-start import leaves matplotlib headless."""

import subprocess
import sys

from llmopt.lazy_modules import LazyModule
from llmopt.warm_imports import HEAD_START_MIN_PARTITIONS, LATER_STEPS, head_start_pays, import_modules

HEAVY = ("scipy", "sklearn", "matplotlib", "mlflow")


def _imported_after(statement: str) -> list[str]:
    code = f"import sys; {statement}; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_the_hourly_flow_imports_no_scipy_sklearn_matplotlib_or_mlflow_until_a_step_needs_them():
    # each was ~0.8–1.8 s of every run's start, an hour with no traffic included (scipy.stats: 9 modules)
    assert _imported_after("import llmopt.flows.hourly_optimization") == []
    assert _imported_after("from llmopt.stats import sufficient; sufficient.sps.norm") == ["scipy"]


def test_a_lazy_module_imports_at_first_attribute_and_is_the_module_after():
    lazy = LazyModule("json.decoder")
    assert repr(lazy) == "<lazy module 'json.decoder'>"
    assert lazy.JSONDecodeError.__module__ == "json.decoder"
    assert repr(lazy) == "<lazy module 'json.decoder' (imported)>"
    missing = LazyModule("llmopt.no_such_module")
    try:
        missing.anything
    except ModuleNotFoundError as err:
        assert "llmopt.no_such_module" in str(err)
    else:
        raise AssertionError("a missing module must raise at first use")


def test_import_modules_reports_what_failed_and_sets_the_headless_backend():
    assert import_modules(("json", "llmopt.no_such_module")) == ["llmopt.no_such_module"]
    code = ("import sys; from llmopt.warm_imports import import_modules; print(import_modules()); "
            "import matplotlib; print(matplotlib.get_backend()); "
            "from mlflow.utils import requirements_utils as r; print(r._MODULES_TO_PACKAGES['sklearn'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]" and out[1].lower() == "agg"
    assert out[2] == "['scikit-learn']"     # MLflow's module → distribution map, which its first log_model builds
    assert "matplotlib.pyplot" in LATER_STEPS and "sklearn.ensemble" in LATER_STEPS


def test_the_later_steps_import_ahead_only_under_many_partitions_with_rows():
    # a 1M-row SQLite hour is 2 slices: the imports would only slow them and add their memory to the peak
    assert not head_start_pays(2, None)
    assert not head_start_pays(HEAD_START_MIN_PARTITIONS - 1, 10_000_000)
    assert head_start_pays(24, 10_000_000) and head_start_pays(HEAD_START_MIN_PARTITIONS, None)
    assert not head_start_pays(24, 0)          # counted empty: the run ends after tracking


def test_the_pool_knows_when_the_pending_partitions_hold_no_rows(write_settings, prices):
    # the flow imports the later steps' modules ahead only when there are rows to reach them
    from datetime import datetime, timedelta, timezone

    from llmopt.domain import Window
    from llmopt.extract.synthetic import generate_requests
    from llmopt.resources import open_resources
    from llmopt.rollup.lookback import plan_lookback, read_rollups

    end = datetime(2026, 11, 20, 11, tzinfo=timezone.utc)
    _, settings = write_settings()
    res = open_resources(settings)
    res.request_log.ensure_tables()
    empty_hour = Window(end - timedelta(hours=1), end)
    pool = read_rollups(res, plan_lookback(res, empty_hour))
    assert len(pool.pending) == 1 and pool.pending_rows == 0
    res.request_log.append(generate_requests(300, hours=1, seed=5, end=end, prices=prices))
    pool = read_rollups(res, plan_lookback(res, empty_hour))
    assert len(pool.pending) == 1 and pool.pending_rows == 300
