"""The run tracker: one MLflow run per optimization run, addressed by its run id."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from llmopt.domain import redact_url
from llmopt.publish.service_config import json_safe

MODEL_REQUIREMENTS = ["scikit-learn", "pandas", "numpy", "llmopt"]
# MLflow 3 opens an experiment in its GenAI view unless told it holds classic ML runs
EXPERIMENT_KIND, CLASSIC_ML = "mlflow.experimentKind", "custom_model_development"


class TrackerUnavailable(RuntimeError):
    """The MLflow tracking store cannot be reached: the run stops before it publishes anything."""


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = json.dumps(value) if isinstance(value, (list, tuple)) else str(value)


def _create_sqlite_store(path: Path) -> None:
    """Create a new SQLite tracking store whole or not at all.

    MLflow builds a new store by running its ~50 schema migrations in place; a run killed among them leaves a
    file every later run fails on (`table _alembic_tmp_params already exists`). So a new store is migrated
    under a temporary name and linked into place: `os.link` is atomic and fails if another run got there first.
    """
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    from mlflow.tracking import MlflowClient

    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.") as tmp:
        fresh = Path(tmp) / path.name
        MlflowClient(f"sqlite:///{fresh}").search_experiments(max_results=1)   # runs the migrations
        try:
            os.link(fresh, path)
        except FileExistsError:
            pass                                # another run created it meanwhile: theirs is just as good


class MlflowTracker:
    """Records runs in MLflow through `MlflowClient`, so a run can span several tasks.

    Args:
        tracking_uri: e.g. `sqlite:///.llmopt/mlflow.db` or `http://mlflow:5000`.
        experiment: experiment name; created on first use.
        artifact_location: where a newly created experiment stores artifacts (local stores only;
            an MLflow server decides this itself).
    """

    def __init__(self, tracking_uri: str, experiment: str, artifact_location: str | None = None,
                 timeout_seconds: float = 10, max_retries: int = 2):
        # MLflow's REST client reads its timeout and retry budget only from the environment (defaults: 120 s and
        # 7 retries with backoff factor 2, i.e. ~10 min against a dead server)
        os.environ.update({"MLFLOW_HTTP_REQUEST_TIMEOUT": str(int(math.ceil(timeout_seconds))),
                           "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(max_retries),
                           "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"})
        from mlflow.tracking import MlflowClient

        if tracking_uri.startswith("sqlite:///"):
            _create_sqlite_store(Path(tracking_uri[len("sqlite:///"):]))
        self.tracking_uri = tracking_uri
        self.client = MlflowClient(tracking_uri)
        try:
            found = self.client.get_experiment_by_name(experiment)
        except Exception as err:  # noqa: BLE001 - any failure to reach the store is the same news to the user
            raise TrackerUnavailable(
                f"MLflow at {redact_url(tracking_uri)} (setting mlflow_tracking_uri) did not answer within "
                f"{max_retries + 1} tries of {timeout_seconds:g} s (mlflow_timeout_seconds, mlflow_max_retries): "
                f"{redact_url(str(err).splitlines()[0])[:200] if str(err) else type(err).__name__}") from None
            # from None: MLflow's own message carries the URL with its password, and Prefect logs the whole chain
        if found is not None:
            self.experiment_id = found.experiment_id
            if EXPERIMENT_KIND not in found.tags:           # a kind someone chose stays
                self.client.set_experiment_tag(self.experiment_id, EXPERIMENT_KIND, CLASSIC_ML)
        else:
            local = urlparse(tracking_uri).scheme not in ("http", "https", "databricks")
            location = Path(artifact_location).resolve().as_uri() if (artifact_location and local) else None
            self.experiment_id = self.client.create_experiment(experiment, artifact_location=location,
                                                               tags={EXPERIMENT_KIND: CLASSIC_ML})

    def start_run(self, run_name: str, params: dict[str, Any], tags: dict[str, str]) -> str:
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags)
        flat: dict[str, str] = {}
        _flatten("", params, flat)
        from mlflow.entities import Param

        self.client.log_batch(run.info.run_id, params=[Param(k, v[:6000]) for k, v in sorted(flat.items())])
        return run.info.run_id

    def log_metrics(self, run_id: str, metrics: dict[str, float]) -> None:
        from mlflow.entities import Metric
        import time

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, 0) for k, v in sorted(metrics.items())
                 if v is not None and math.isfinite(float(v))]
        if batch:
            self.client.log_batch(run_id, metrics=batch)

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        for k, v in tags.items():
            self.client.set_tag(run_id, k, v)

    def log_json(self, run_id: str, obj: Any, artifact_file: str) -> None:
        self.client.log_text(run_id, json.dumps(json_safe(obj), indent=2, default=str), artifact_file)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self.client.log_text(run_id, text, artifact_file)

    def log_files(self, run_id: str, files: dict[str, bytes], artifact_path: str) -> None:
        """Log in-memory files (e.g. PNG plots) under `artifact_path`."""
        with tempfile.TemporaryDirectory() as tmp:
            for name, data in files.items():
                (Path(tmp) / name).write_bytes(data)
            self.client.log_artifacts(run_id, tmp, artifact_path)

    def log_models(self, run_id: str, models: dict[str, Any], examples: dict[str, Any] | None = None) -> None:
        """Log fitted scikit-learn estimators as MLflow models of this run.

        Args:
            examples: per model, a few input rows; MLflow infers the model's signature from them.
        """
        import logging

        import mlflow
        import mlflow.sklearn

        # cloudpickle, not skops: skops refuses our GroupedRegressor (not on its trusted list).
        logging.getLogger("mlflow.sklearn").setLevel(logging.ERROR)
        mlflow.set_tracking_uri(self.tracking_uri)
        with mlflow.start_run(run_id=run_id):
            for name, model in models.items():
                mlflow.sklearn.log_model(model, name=name, pip_requirements=MODEL_REQUIREMENTS,
                                         serialization_format="cloudpickle",
                                         input_example=(examples or {}).get(name))

    def end_run(self, run_id: str, succeeded: bool) -> None:
        self.client.set_terminated(run_id, status="FINISHED" if succeeded else "FAILED")

    def run_url_hint(self, run_id: str) -> str:
        return f"experiment {self.experiment_id}, run {run_id}"
