"""Fit the window's latency, completion-length, quality and cost models."""

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from llmopt import pipeline
from llmopt.resources import open_resources
from llmopt.fit import FittedModels
from llmopt.settings import Settings


@task(name="fit-models", retries=0, timeout_seconds=1800, cache_policy=NO_CACHE)
def fit_models(settings: Settings, valid: pd.DataFrame) -> FittedModels:
    """Fit per-model latency quantiles, per-task completion length and per-cell statistics."""
    models = pipeline.fit(open_resources(settings), valid)
    get_run_logger().info("hold-out scores: %s", models.scores)
    return models
