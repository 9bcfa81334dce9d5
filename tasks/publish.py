"""Publish approved configs to the config store."""

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from llmopt.publish.config_model import LatestConfigs
from llmopt import pipeline
from llmopt.resources import open_resources
from llmopt.domain import Change
from llmopt.experiments.analysis import ExperimentCall
from llmopt.fit import FittedModels
from llmopt.domain import Window
from llmopt.publish.publishing import PublishOutcome
from llmopt.evaluate.routing import RoutingEvaluation
from llmopt.settings import Settings
from llmopt.tasks.retries import retry_if_transient


@task(name="publish-configs", retries=2,
      retry_condition_fn=retry_if_transient, retry_delay_seconds=[10, 60], timeout_seconds=300, cache_policy=NO_CACHE)
def publish_configs(settings: Settings, window: Window, evaluations: list[RoutingEvaluation],
                    changes: list[Change], models: FittedModels | None, latest: LatestConfigs,
                    lineage_ids: dict[str, str | None], dry_run: bool = False,
                    calls: list[ExperimentCall] = ()) -> PublishOutcome:
    """Write `<service>/vNNNNNN.json`, then `latest.json`, for services with approved changes or new experiments."""
    outcome = pipeline.publish_changes(open_resources(settings), window, evaluations, changes, models, latest, lineage_ids,
                                        dry_run, list(calls))
    logger = get_run_logger()
    for p in outcome.published:
        logger.info("published %s v%d at %s", p.service, p.version, p.location)
    for svc, why in outcome.skipped.items():
        logger.info("not published %s: %s", svc, why)
    return outcome


@task(name="adopt-orphan-versions", retries=1,
      retry_condition_fn=retry_if_transient, retry_delay_seconds=10, timeout_seconds=300, cache_policy=NO_CACHE)
def adopt_orphan_versions(settings: Settings) -> list[str]:
    """Before a run reads what is published: finish any version a crashed publish left above `latest.json`."""
    logger = get_run_logger()
    notes = []
    for a in pipeline.adopt_orphan_versions(open_resources(settings)):
        notes.append(f"{a.service}: adopted v{a.version} left by a crashed publish (latest was "
                     f"v{a.previous_latest}){f'; superseded {a.superseded}' if a.superseded else ''}")
        logger.warning(notes[-1])
    return notes
