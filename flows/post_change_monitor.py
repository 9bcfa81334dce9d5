"""The `post-change-monitor` flow: confirm published changes that held, roll back the ones that regressed."""

from datetime import datetime

from prefect import flow
from prefect.runtime import flow_run

from llmopt.tasks.monitor import monitor_changes, show_monitor_results
from llmopt.tasks.settings import load_settings
from llmopt.tasks.track import finish_tracking, record_monitor_results, start_monitor_tracking


@flow(name="post-change-monitor", log_prints=True)
def post_change_monitor(now: datetime | None = None, config_file: str | None = None) -> list[dict]:
    """Compare each monitored change's post-change traffic with its pre-change baseline.

    Args:
        now: evaluate as of this time (UTC); default the current time.
        config_file: settings file (default ./llmopt.yaml, then LLMOPT_* variables).
    """
    settings = load_settings(config_file, None)
    run_id = start_monitor_tracking(settings, flow_run.get_id())
    try:
        results = monitor_changes(settings, now)
        record_monitor_results(settings, run_id, results)
        show_monitor_results(results)
    except BaseException as err:
        finish_tracking(settings, run_id, False, error=f"{type(err).__name__}: {err}")
        raise
    finish_tracking(settings, run_id, True)
    return results
