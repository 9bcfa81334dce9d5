"""Extract the window from the request log."""

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from llmopt import pipeline
from llmopt.resources import open_resources
from llmopt.domain import Window
from llmopt.settings import Settings


@task(name="extract-window", retries=2, retry_delay_seconds=[10, 60], timeout_seconds=900, cache_policy=NO_CACHE)
def extract_window(settings: Settings, window: Window) -> pd.DataFrame:
    """Read the window's requests (window filter in the database), logging progress."""
    logger = get_run_logger()
    frame = pipeline.extract(open_resources(settings), window, progress=lambda n: logger.info("extracted %d rows", n))
    logger.info("%s: %d rows", window.label, len(frame))
    return frame
