"""Read the published routes and evaluate every enabled strategy on the window."""

from prefect import task
from prefect.cache_policies import NO_CACHE

from llmopt.publish.config_model import LatestConfigs
from llmopt import pipeline
from llmopt.domain import Change, Window
from llmopt.evaluate.budget import BudgetForecast
from llmopt.evaluate.routing import RoutingEvaluation
from llmopt.fit import FittedModels
from llmopt.pipeline import StrategyEvaluations
from llmopt.resources import open_resources
from llmopt.rollup.pool import PooledEvidence
from llmopt.settings import Settings
from llmopt.tasks.retries import retry_if_transient


@task(name="read-published-configs", retries=3,
      retry_condition_fn=retry_if_transient, retry_delay_seconds=[5, 30, 120], timeout_seconds=120,
      cache_policy=NO_CACHE)
def read_published_configs(settings: Settings, services: list[str]) -> LatestConfigs:
    """The latest published config of each service (None where there is none yet)."""
    return pipeline.latest_configs(open_resources(settings), services)


@task(name="evaluate-routing", retries=0, timeout_seconds=900, cache_policy=NO_CACHE)
def evaluate_routing(settings: Settings, window: Window, evidence: PooledEvidence, models: FittedModels,
                     latest: LatestConfigs) -> list[RoutingEvaluation]:
    """Per (service, task_type): keep, or recommend the cheapest candidate that passes every guardrail."""
    return pipeline.evaluate(open_resources(settings), window, evidence, models, latest)


@task(name="evaluate-strategy", retries=0, timeout_seconds=900, cache_policy=NO_CACHE,
      task_run_name="evaluate-{name}")
def evaluate_strategy(settings: Settings, name: str, window: Window, evidence: PooledEvidence,
                      routing: list[RoutingEvaluation], latest: LatestConfigs) -> StrategyEvaluations:
    """One enabled strategy (reliability, max_tokens, prompt_caching, cascade, …) on the pooled sample."""
    return pipeline.evaluate_strategy(open_resources(settings), name, window, evidence, routing, latest)


def strategies_to_evaluate(settings: Settings) -> list[str]:
    """The enabled strategies that evaluate the window themselves (a plain call: no I/O)."""
    return pipeline.strategies_to_evaluate(open_resources(settings))


@task(name="forecast-budgets", retries=1,
      retry_condition_fn=retry_if_transient, retry_delay_seconds=[30], timeout_seconds=600, cache_policy=NO_CACHE)
def forecast_budgets(settings: Settings, window: Window, changes: list[Change]) -> list[BudgetForecast]:
    """Per service: next-24-hour spend forecast, a breach flag, and the changes that would fix it."""
    return pipeline.forecast_budgets(open_resources(settings), window, changes)
