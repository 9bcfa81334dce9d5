"""When a task's retry can help: not for failures that another try would only repeat."""

from llmopt.failures import is_repeatable


def retry_if_transient(task, task_run, state) -> bool:
    """Prefect `retry_condition_fn`: retry unless another try would repeat the failure (`llmopt.failures`).

    Systems that did not answer (MLflow, the database, S3) are retried: their own bounded retries ran already,
    and a task retry after a delay rides out a restart.
    """
    return not is_repeatable(getattr(state, "data", None))
