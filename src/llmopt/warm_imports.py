"""Import the modules of a run's later steps ahead of time, while its partitions are read.

A run with traffic imports scikit-learn, scipy.stats and matplotlib (~1.5–2 s together) only once its
partitions are in. The partitions' reads and the engine run in C with the GIL released, so the imports can
run meanwhile on the interpreter that would otherwise wait.
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
