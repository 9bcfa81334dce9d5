"""The terminal shows an expected failure in one line: no traceback for bad data or a system that is down.

Prefect logs a failed task or flow run with its traceback on the console and to its API. For failures llmopt
explains itself (a contract breach, a missing table, MLflow/database/S3 not answering, a lost publish race) the
traceback only buries the CLI's one-line reason; the Prefect UI (API handler) keeps it.
"""

from __future__ import annotations

import logging


class OneLineFailures(logging.Formatter):
    """Wraps a console handler's formatter: an expected failure's record is formatted without its traceback."""

    def __init__(self, inner: logging.Formatter):
        from llmopt.failures import EXPLAINED       # imported when a flow is about to run: it pulls in pandas

        super().__init__()
        self.inner, self.explained = inner, EXPLAINED

    def format(self, record: logging.LogRecord) -> str:
        if not (record.exc_info and isinstance(record.exc_info[1], self.explained)):
            return self.inner.format(record)
        saved = record.exc_info, record.exc_text
        record.exc_info, record.exc_text = None, None       # other handlers (Prefect's API) still get them
        try:
            return self.inner.format(record)
        finally:
            record.exc_info, record.exc_text = saved


def quiet_expected_failures() -> None:
    """Wrap the formatter of every Prefect console handler (after prefect configured its logging).

    Handlers are found by class name: the library never imports prefect.
    """
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict) if name.startswith("prefect")]
    for logger in [logging.root, *loggers]:
        for handler in logger.handlers:
            if type(handler).__name__ == "PrefectConsoleHandler" and not isinstance(handler.formatter, OneLineFailures):
                handler.setFormatter(OneLineFailures(handler.formatter or logging.Formatter()))
