"""The failures llmopt explains itself in one line, by kind (task retries and the console read them here)."""

import errno

from llmopt.decide.run_lock import DatabaseUnavailable
from llmopt.extract.sql_source import NotADatabase
from llmopt.publish.publishing import PublishConflict
from llmopt.publish.service_config import ConfigSchemaError
from llmopt.publish.store import ConfigStoreUnavailable
from llmopt.track.tracker import TrackerUnavailable
from llmopt.validate.contract import ContractBreach

# the same input fails the same way again: bad data, a missing table, a lost publish race, an invalid config,
# a file that is not a database
REPEATABLE = (ContractBreach, LookupError, PublishConflict, ConfigSchemaError, NotADatabase)
# a system that did not answer within its own bounded retries; a later try may find it back
UNAVAILABLE = (TrackerUnavailable, DatabaseUnavailable, ConfigStoreUnavailable)
EXPLAINED = REPEATABLE + UNAVAILABLE
# local files: no permission, a read-only file system, a folder where a file belongs or the reverse. A missing file
# is not among them: a lake file can vanish between listing and reading, and the next try lists again.
FILE_MISTAKES = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR}


def is_repeatable(err: BaseException | None) -> bool:
    """Whether another try of the same work would fail the same way (so a retry only delays the message)."""
    return isinstance(err, REPEATABLE) or (isinstance(err, OSError) and err.errno in FILE_MISTAKES)


def is_explained(err: BaseException | None) -> bool:
    """Whether the failure's one line says it all (the console leaves out its traceback)."""
    return isinstance(err, EXPLAINED) or is_repeatable(err)
