"""Validate the window against the data contract; quarantine bad rows."""

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from llmopt import pipeline
from llmopt.resources import open_resources
from llmopt.validate.contract import ValidationOutcome
from llmopt.domain import Window
from llmopt.settings import Settings


@task(name="validate-requests", retries=0, timeout_seconds=900, cache_policy=NO_CACHE)
def validate_requests(settings: Settings, window: Window, frame: pd.DataFrame) -> ValidationOutcome:
    """Split rows into valid and quarantined; a batch-level breach raises and stops the run."""
    outcome = pipeline.validate(open_resources(settings), window, frame)
    get_run_logger().info("%d rows valid, %d quarantined %s", len(outcome.valid), outcome.rows_quarantined,
                          outcome.reasons or "")
    return outcome
