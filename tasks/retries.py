"""When a task's retry can help: not for failures that another try would only repeat."""

from llmopt.failures import REPEATABLE


def retry_if_transient(task, task_run, state) -> bool:
    """Prefect `retry_condition_fn`: retry unless the failure is `llmopt.failures.REPEATABLE`.

    Systems that did not answer (MLflow, the database, S3) are retried: their own bounded retries ran already,
    and a task retry after a delay rides out a restart.
    """
    return not isinstance(getattr(state, "data", None), REPEATABLE)
