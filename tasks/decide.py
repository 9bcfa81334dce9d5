"""Decide which recommendations are approved."""

from datetime import datetime, timezone

from prefect import task
from prefect.cache_policies import NO_CACHE

from llmopt.decisions import Change, decide
from llmopt.routing import RoutingEvaluation
from llmopt.settings import Settings


@task(name="decide-changes", retries=0, timeout_seconds=60, cache_policy=NO_CACHE)
def decide_changes(settings: Settings, evaluations: list[RoutingEvaluation]) -> list[Change]:
    """`approval: auto` approves what passed every guardrail; `manual` leaves it pending."""
    return decide(evaluations, settings.policy, datetime.now(timezone.utc))
