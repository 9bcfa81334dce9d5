"""Persist decisions, ask a person to review pending ones, and mark what was published."""

from prefect import flow_runs, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import FlowPauseTimeout

from llmopt.decide import lifecycle
from llmopt.resources import open_resources
from llmopt.publish.publishing import PublishedConfig
from llmopt.domain import Change
from llmopt.settings import Settings
from llmopt.tasks.review_form import review_form
from llmopt.tasks.retries import retry_if_transient


@task(name="record-decisions", retries=2,
      retry_condition_fn=retry_if_transient, retry_delay_seconds=[5, 30], timeout_seconds=120, cache_policy=NO_CACHE)
def record_decisions(settings: Settings, changes: list[Change], actor: str) -> list[Change]:
    """Persist each change as a decision with its audit trail; returns the changes with their decision ids."""
    return lifecycle.record_decisions(open_resources(settings), changes, actor)


@task(name="apply-review", retries=2,
      retry_condition_fn=retry_if_transient, retry_delay_seconds=[5, 30], timeout_seconds=120, cache_policy=NO_CACHE)
def apply_review(settings: Settings, changes: list[Change], verdicts: dict[int, str], reviewer: str,
                 note: str | None) -> list[Change]:
    """Record the reviewer's approve/reject per decision."""
    return lifecycle.apply_review(open_resources(settings), changes, verdicts, reviewer, note)


@task(name="expire-pending", retries=2,
      retry_condition_fn=retry_if_transient, retry_delay_seconds=[5, 30], timeout_seconds=120, cache_policy=NO_CACHE)
def expire_pending(settings: Settings, changes: list[Change], note: str) -> list[Change]:
    """Pending decisions nobody reviewed in time expire."""
    return lifecycle.expire_pending(open_resources(settings), changes, note)


@task(name="mark-published", retries=2,
      retry_condition_fn=retry_if_transient, retry_delay_seconds=[5, 30], timeout_seconds=120, cache_policy=NO_CACHE)
def mark_published(settings: Settings, changes: list[Change], published: list[PublishedConfig]) -> None:
    """Approved decisions whose service got a new version move to published, then monitoring."""
    lifecycle.mark_published(open_resources(settings), changes, published)


def wait_for_review(settings: Settings, changes: list[Change], timeout_minutes: float) -> list[Change]:
    """Pause the flow run until a person approves or rejects each pending decision in the Prefect UI.

    Called from the flow (a pause belongs to the flow run, not a task). Without pending decisions
    or with a zero timeout it returns at once; after the timeout the pending decisions expire.
    """
    pending = [c for c in changes if c.state == "pending" and c.decision_id is not None]
    if not pending or timeout_minutes <= 0:
        return changes
    logger = get_run_logger()
    logger.info("waiting up to %g min for a review of decisions %s in the Prefect UI (or `llmopt decisions`)",
                timeout_minutes, [c.decision_id for c in pending])
    try:
        answer = flow_runs.pause_flow_run(wait_for_input=review_form(pending), timeout=int(timeout_minutes * 60),
                                          poll_interval=2, key="decision-review")
    except FlowPauseTimeout:
        return expire_pending(settings, changes, f"no review within {timeout_minutes:g} min")
    verdicts = {c.decision_id: getattr(answer, f"decision_{c.decision_id}") for c in pending}
    return apply_review(settings, changes, verdicts, answer.reviewer, answer.note or None)
