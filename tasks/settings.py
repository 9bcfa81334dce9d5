"""Load the settings of a run and resolve its window."""

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from llmopt.optimizer import Window
from llmopt.settings import Settings


@task(name="load-settings", retries=0, timeout_seconds=30, cache_policy=NO_CACHE)
def load_settings(config_file: str | None, approval: str | None) -> Settings:
    """`llmopt.yaml` (or `config_file`) + `LLMOPT_*`; `approval` overrides the policy's approval mode."""
    settings = Settings.load(config_file)
    if approval is not None:
        policy = settings.policy.model_copy(update={"approval": approval})
        settings = settings.model_copy(update={"policy": policy})
    return settings


@task(name="resolve-window", retries=0, timeout_seconds=10, cache_policy=NO_CACHE)
def resolve_window(start: datetime | None, end: datetime | None) -> Window:
    """The half-open window [start, end); default: the last complete hour."""
    return Window.resolve(start, end)
