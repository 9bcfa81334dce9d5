"""Decide which recommendations become changes, and which of those are approved."""

from datetime import datetime, timezone

from prefect import task
from prefect.cache_policies import NO_CACHE

from llmopt.publish.config_model import LatestConfigs
from llmopt import pipeline
from llmopt.domain import Change
from llmopt.evaluate.routing import RoutingEvaluation
from llmopt.experiments.analysis import ExperimentCall
from llmopt.pipeline import StrategyEvaluations
from llmopt.resources import open_resources
from llmopt.settings import Settings


@task(name="decide-changes", retries=0, timeout_seconds=60, cache_policy=NO_CACHE)
def decide_changes(settings: Settings, routing: list[RoutingEvaluation], calls: list[ExperimentCall] = (),
                   latest: LatestConfigs | None = None,
                   evaluations: list[StrategyEvaluations] = (), data_time: datetime | None = None) -> list[Change]:
    """Every strategy's changes under the precedence rules; `approval: auto` approves, `manual` leaves them pending."""
    return pipeline.decide_changes(open_resources(settings), routing, list(calls), latest or {},
                                   datetime.now(timezone.utc), list(evaluations), data_time)
