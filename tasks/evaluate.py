"""Read the published routes and evaluate the routing strategy."""

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from llmopt import optimizer
from llmopt.fitting import FittedModels
from llmopt.optimizer import Window
from llmopt.routing import RoutingEvaluation
from llmopt.settings import Settings
from llmopt.decisions import Change
from llmopt.strategies.budget import BudgetForecast
from llmopt.strategies.cascade import CascadeEvaluation
from llmopt.strategies.max_tokens import MaxTokensEvaluation
from llmopt.strategies.prompt_caching import CachingEvaluation
from llmopt.strategies.reliability import ReliabilityEvaluation


@task(name="read-published-configs", retries=3, retry_delay_seconds=[5, 30, 120], timeout_seconds=120,
      cache_policy=NO_CACHE)
def read_published_configs(settings: Settings, services: list[str]) -> dict[str, dict | None]:
    """The latest published config of each service (None where there is none yet)."""
    return optimizer.latest_configs(settings, services)


@task(name="evaluate-routing", retries=0, timeout_seconds=900, cache_policy=NO_CACHE)
def evaluate_routing(settings: Settings, window: Window, valid: pd.DataFrame, models: FittedModels,
                     latest: dict[str, dict | None]) -> list[RoutingEvaluation]:
    """Per (service, task_type): keep, or recommend the cheapest candidate that passes every guardrail."""
    return optimizer.evaluate(settings, window, valid, models, latest)


@task(name="evaluate-max-tokens", retries=0, timeout_seconds=600, cache_policy=NO_CACHE)
def evaluate_max_tokens(settings: Settings, window: Window, valid: pd.DataFrame) -> list[MaxTokensEvaluation]:
    """Per task and model: the lowest max_tokens that keeps truncation under the target."""
    return optimizer.evaluate_max_tokens(settings, window, valid)


@task(name="evaluate-prompt-caching", retries=1, retry_delay_seconds=[30], timeout_seconds=900, cache_policy=NO_CACHE)
def evaluate_caching(settings: Settings, window: Window, valid: pd.DataFrame) -> list[CachingEvaluation]:
    """Per task and model: replay prompt-prefix hashes to estimate what prompt caching would save."""
    return optimizer.evaluate_caching(settings, window, valid)


@task(name="forecast-budgets", retries=1, retry_delay_seconds=[30], timeout_seconds=600, cache_policy=NO_CACHE)
def forecast_budgets(settings: Settings, window: Window, changes: list[Change]) -> list[BudgetForecast]:
    """Per service: next-24-hour spend forecast, a breach flag, and the changes that would fix it."""
    return optimizer.forecast_budgets(settings, window, changes)


@task(name="evaluate-cascades", retries=1, retry_delay_seconds=[30], timeout_seconds=900, cache_policy=NO_CACHE)
def evaluate_cascades(settings: Settings, window: Window, valid: pd.DataFrame,
                      evaluations: list[RoutingEvaluation]) -> list[CascadeEvaluation]:
    """Per task: the cheap-first cascade from paired answers, threshold tuned and checked on separate halves."""
    return optimizer.evaluate_cascades(settings, window, valid, evaluations)


@task(name="evaluate-reliability", retries=0, timeout_seconds=600, cache_policy=NO_CACHE)
def evaluate_reliability(settings: Settings, valid: pd.DataFrame) -> list[ReliabilityEvaluation]:
    """Per deployment: timeout from latency quantiles, retries and fallbacks from failure rates."""
    return optimizer.evaluate_reliability(settings, valid)
