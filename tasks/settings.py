"""Load the settings of a run and resolve its window."""

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from llmopt.domain import Window
from llmopt.settings import Settings
from llmopt.warm_imports import import_modules


@task(name="load-settings", retries=0, timeout_seconds=30, cache_policy=NO_CACHE)
def load_settings(config_file: str | None, approval: str | None,
                  approval_timeout_minutes: float | None = None) -> Settings:
    """`llmopt.yaml` (or `config_file`) + `LLMOPT_*`; run parameters override the policy's approval mode and wait."""
    settings = Settings.load(config_file)
    update = {k: v for k, v in (("approval", approval), ("approval_timeout_minutes", approval_timeout_minutes))
              if v is not None}
    if update:
        settings = settings.model_copy(update={"policy": settings.policy.model_copy(update=update)})
    return settings


@task(name="resolve-window", retries=0, timeout_seconds=10, cache_policy=NO_CACHE)
def resolve_window(start: datetime | None, end: datetime | None) -> Window:
    """The half-open window [start, end); default: the last complete hour."""
    return Window.resolve(start, end)


@task(name="import-later-steps", retries=0, timeout_seconds=120, cache_policy=NO_CACHE)
def import_later_steps() -> list[str]:
    """Import the fit's, evaluation's and report's modules while the partitions are read (see `warm_imports`)."""
    return import_modules()
