"""When a task's retry can help: not for failures that another try would only repeat."""

from llmopt.publish.publishing import PublishConflict
from llmopt.publish.service_config import ConfigSchemaError
from llmopt.validate.contract import ContractBreach

# Bad data, a missing table, a lost publish race, an invalid config: the same input fails the same way again.
# Systems that did not answer (MLflow, the database, S3) are retried: their own bounded retries ran already,
# and a task retry after a delay rides out a restart.
NOT_TRANSIENT = (ContractBreach, LookupError, PublishConflict, ConfigSchemaError)


def retry_if_transient(task, task_run, state) -> bool:
    """Prefect `retry_condition_fn`: retry unless the failure is one of NOT_TRANSIENT."""
    return not isinstance(getattr(state, "data", None), NOT_TRANSIENT)
