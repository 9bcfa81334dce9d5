"""The terminal shows an expected failure in one line, and the lookback's progress as a bar (a line per wave when
the console is not a terminal).

Prefect logs a failed task or flow run with its traceback on the console and to its API. For failures llmopt
explains itself (a contract breach, a missing table, MLflow/database/S3 not answering, a lost publish race) the
traceback only buries the CLI's one-line reason; the Prefect UI (API handler) keeps it.
"""

from __future__ import annotations

import logging


class OneLineFailures(logging.Formatter):
    """Wraps a console handler's formatter: an expected failure's record is formatted without its traceback."""

    def __init__(self, inner: logging.Formatter):
        from llmopt.failures import is_explained    # imported when a flow is about to run: it pulls in pandas

        super().__init__()
        self.inner, self.explained = inner, is_explained

    def format(self, record: logging.LogRecord) -> str:
        if not (record.exc_info and self.explained(record.exc_info[1])):
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


class ProgressOnConsole(logging.Filter):
    """On a console handler: records carrying `llmopt_progress` always pass — drawn as a bar in place on a terminal,
    as plain lines otherwise (CI, a file) — and other records pass from the console's own level up."""

    def __init__(self, stream, level: int):
        super().__init__()
        self.stream, self.level = stream, level
        self.tty = bool(getattr(stream, "isatty", lambda: False)())

    def filter(self, record: logging.LogRecord) -> bool:
        progress = getattr(record, "llmopt_progress", None)
        if progress is None:
            return record.levelno >= self.level
        if not self.tty:
            return True
        self.stream.write("\r" + progress.bar() + " " + progress.line() + ("\n" if progress.finished else ""))
        self.stream.flush()
        return False


def show_progress() -> None:
    """Let task runs' INFO records reach Prefect's handlers, and put `ProgressOnConsole` on every console handler at
    the level the console had (`PREFECT_LOGGING_LEVEL`, WARNING under the CLI), so only progress is added there."""
    runs = logging.getLogger("prefect.task_runs")
    level = runs.getEffectiveLevel()
    runs.setLevel(min(level, logging.INFO))
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict) if name.startswith("prefect")]
    for logger in [logging.root, *loggers]:
        for handler in logger.handlers:
            if type(handler).__name__ == "PrefectConsoleHandler" and \
                    not any(isinstance(f, ProgressOnConsole) for f in handler.filters):
                handler.addFilter(ProgressOnConsole(handler.stream, max(level, handler.level)))
