"""Decide which recommendations are approved."""

from datetime import datetime, timezone

from prefect import task
from prefect.cache_policies import NO_CACHE

from llmopt import optimizer
from llmopt.decisions import Change
from llmopt.experiments.analysis import ExperimentCall
from llmopt.routing import RoutingEvaluation
from llmopt.settings import Settings
from llmopt.strategies.cascade import CascadeEvaluation
from llmopt.strategies.max_tokens import MaxTokensEvaluation
from llmopt.strategies.prompt_caching import CachingEvaluation
from llmopt.strategies.reliability import ReliabilityEvaluation


@task(name="decide-changes", retries=0, timeout_seconds=60, cache_policy=NO_CACHE)
def decide_changes(settings: Settings, evaluations: list[RoutingEvaluation], calls: list[ExperimentCall] = (),
                   latest: dict[str, dict | None] | None = None,
                   reliability: list[ReliabilityEvaluation] = (),
                   limits: list[MaxTokensEvaluation] = (), caching: list[CachingEvaluation] = (),
                   cascades: list[CascadeEvaluation] = ()) -> list[Change]:
    """`approval: auto` approves what passed every guardrail (and every experiment ship); `manual` leaves it pending."""
    return optimizer.decide_changes(settings, evaluations, list(calls), latest or {}, datetime.now(timezone.utc),
                                    list(reliability), list(limits), list(caching), list(cascades))
