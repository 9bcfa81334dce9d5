"""Fit the latency, completion-length, quality and cost models on the pooled evidence."""

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from llmopt import pipeline
from llmopt.fit import FittedModels
from llmopt.resources import open_resources
from llmopt.rollup.pool import PooledEvidence
from llmopt.settings import Settings


@task(name="fit-models", retries=0, timeout_seconds=1800, cache_policy=NO_CACHE)
def fit_models(settings: Settings, evidence: PooledEvidence) -> FittedModels:
    """Fit per-model latency quantiles and per-task completion length on the pooled sample."""
    models = pipeline.fit(open_resources(settings), evidence)
    get_run_logger().info("hold-out scores: %s", models.scores)
    return models
