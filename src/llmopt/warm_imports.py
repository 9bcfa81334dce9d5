"""Import the modules of a run's later steps ahead of time, while its partitions are read.

A run with traffic imports scikit-learn, scipy.stats and matplotlib (~1.5–2 s together) only once its
partitions are in. The partitions' reads and the engine run in C with the GIL released, so the imports can
run meanwhile on the interpreter that would otherwise wait, when there are partitions enough to hide them
(`head_start_pays`).
"""

from __future__ import annotations

import importlib

# what fit-models, evaluate-routing and record-run import first (`fit/models.py`, `evaluate/routing.py`,
# `track/report.py`)
LATER_STEPS = ("scipy.stats", "scipy.optimize", "sklearn.ensemble", "sklearn.linear_model", "sklearn.pipeline",
               "sklearn.preprocessing", "sklearn.metrics", "matplotlib.pyplot", "mlflow.sklearn")
# record-run's first `log_model` checks the models' requirements against the installed packages, and first maps
# every installed module to its distribution (`importlib_metadata.packages_distributions`, ~0.5-1 s, cached for
# the process): built here too. MLflow's own cache, so a release without it only loses the head start.
MLFLOW_PACKAGE_MAP = ("mlflow.utils.requirements_utils", "_init_modules_to_packages_map")


# the imports hold the interpreter ~3.5-4.5 s (2 cores) and their modules' memory alongside a partition's rows.
# On a 1M-row SQLite hour (2 slices, ~2.3 s undisturbed) they stretched the slices to ~4.4 s, saved that much
# later and raised the peak RSS by ~95 MB (684-705 MB against 585-613 MB, 6 alternating runs each); on a 10M-row
# day (24 partitions, ~12 s) they were hidden: 24.1 s against 25.5 s without (8 alternating runs each)
HEAD_START_MIN_PARTITIONS = 8


def head_start_pays(pending_partitions: int, pending_rows: int | None) -> bool:
    """Whether to import the later steps alongside the partitions: enough of them to outlast the imports, and
    rows to reach those steps (`pending_rows` 0: the source counted them empty; None: not counted)."""
    return pending_partitions >= HEAD_START_MIN_PARTITIONS and pending_rows != 0


def import_modules(names: tuple[str, ...] = LATER_STEPS) -> list[str]:
    """Import `names` in order; returns the ones that failed (the step that needs one raises the real error).

    matplotlib is set to its headless Agg backend before pyplot loads, as the report does.
    """
    failed = []
    for name in names:
        try:
            if name == "matplotlib.pyplot":
                importlib.import_module("matplotlib").use("Agg")
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - an optional head start: the step itself reports the failure
            failed.append(name)
    if "mlflow.sklearn" in names:
        module, function = MLFLOW_PACKAGE_MAP
        try:
            getattr(importlib.import_module(module), function)()
        except Exception:  # noqa: BLE001 - as above
            failed.append(f"{module}.{function}")
    return failed
