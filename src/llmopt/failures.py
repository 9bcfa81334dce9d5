"""The failures llmopt explains itself in one line, by kind (task retries and the console read them here)."""

from llmopt.decide.run_lock import DatabaseUnavailable
from llmopt.publish.publishing import PublishConflict
from llmopt.publish.service_config import ConfigSchemaError
from llmopt.publish.store import ConfigStoreUnavailable
from llmopt.track.tracker import TrackerUnavailable
from llmopt.validate.contract import ContractBreach

# the same input fails the same way again: bad data, a missing table, a lost publish race, an invalid config
REPEATABLE = (ContractBreach, LookupError, PublishConflict, ConfigSchemaError)
# a system that did not answer within its own bounded retries; a later try may find it back
UNAVAILABLE = (TrackerUnavailable, DatabaseUnavailable, ConfigStoreUnavailable)
EXPLAINED = REPEATABLE + UNAVAILABLE
