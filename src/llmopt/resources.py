"""Resources: the edges a run talks to, built once per process from Settings and passed down.

One engine per database (the request log and the decision store share it), the price map parsed
once, the decision tables created once, the MLflow tracker opened on first use.
"""

from __future__ import annotations

from functools import cached_property, lru_cache

from sqlalchemy.engine import Engine

from llmopt.decide.decision_store import DecisionStore
from llmopt.extract.sql_source import SqlRequestLog, open_engine
from llmopt.prices import PriceMap
from llmopt.publish.store import ConfigStore, open_config_store
from llmopt.settings import Settings


class Resources:
    """The request log, config store, decision store, price map and tracker of one settings object.

    Build it with `open_resources(settings)`, which returns the same object for equal settings.
    """

    def __init__(self, settings: Settings):
        self.settings = settings

    @cached_property
    def engine(self) -> Engine:
        s = self.settings
        return _engine(s.database_url, s.database_timeout_seconds, s.database_statement_timeout_seconds)

    @cached_property
    def request_log(self) -> SqlRequestLog:
        s = self.settings
        return SqlRequestLog(s.database_url, s.requests_table, s.quarantine_table, engine=self.engine)

    @cached_property
    def request_source(self):
        """Where requests are read from (`source:`; default the files at `requests_path`, else the SQL table)."""
        from llmopt.extract.sources import effective_source, open_request_source

        if effective_source(self.settings).kind == "sql":
            return self.request_log
        return open_request_source(self.settings, self.engine)

    @cached_property
    def feedback(self):
        """Late scores (`feedback:`), or None when none are configured."""
        s = self.settings
        if s.feedback is None:
            return None
        from llmopt.extract.feedback import FeedbackLog

        return FeedbackLog(s.feedback, s.feedback_delay_hours, self.engine, s.s3_endpoint_url)

    @cached_property
    def statistics(self):
        """Window statistics for experiments, the monitor and budgets: aggregated in the database for the SQL
        table without late scores, else summed from the rollups of the configured source (on the SQL table with
        late scores, spend is still summed in the database: scores do not change it)."""
        from llmopt.rollup.window_statistics import RollupStatistics, SqlStatistics

        if self.request_source is not self.request_log:
            return RollupStatistics(self)
        in_database = SqlStatistics(self.request_log)
        return in_database if self.feedback is None else RollupStatistics(self, spend=in_database)

    @cached_property
    def contract(self):
        """The request-log contract, its suite read once (every partition is validated against it)."""
        from llmopt.validate.contract import RequestContract

        return RequestContract(self.settings.contracts_dir)

    @cached_property
    def rollup_store(self):
        from llmopt.rollup.store import RollupStore

        from llmopt.extract.sources import source_key

        # one folder per source: two sources (or two tables) never overwrite each other's rollups
        return RollupStore(f"{self.settings.rollups_dir.rstrip('/')}/{source_key(self.settings)}",
                           self.settings.s3_endpoint_url)

    @cached_property
    def config_store(self) -> ConfigStore:
        s = self.settings
        return open_config_store(s.config_store_uri, s.s3_endpoint_url, s.s3_timeout_seconds, s.s3_max_attempts)

    @cached_property
    def decision_store(self) -> DecisionStore:
        return DecisionStore(self.settings.database_url, engine=self.engine)

    @cached_property
    def prices(self) -> PriceMap:
        return _prices(str(self.settings.prices_path))

    @cached_property
    def tracker(self):
        """The MLflow tracker (imported and connected on first use: MLflow is slow to import)."""
        from llmopt.track.tracker import MlflowTracker

        s = self.settings
        return MlflowTracker(s.mlflow_tracking_uri, s.mlflow_experiment, s.mlflow_artifact_location,
                             s.mlflow_timeout_seconds, s.mlflow_max_retries)


@lru_cache(maxsize=32)
def _engine(database_url: str, timeout_seconds: float, statement_timeout_seconds: float) -> Engine:
    return open_engine(database_url, timeout_seconds, statement_timeout_seconds)


@lru_cache(maxsize=8)
def _prices(path: str) -> PriceMap:
    return PriceMap.from_file(path)


_OPEN: dict[str, Resources] = {}


def open_resources(settings: Settings) -> Resources:
    """The Resources of `settings`, built once per process for equal settings."""
    key = settings.model_dump_json()
    if key not in _OPEN:
        if len(_OPEN) >= 32:            # a long-lived process that sees many settings (tests) keeps the newest
            _OPEN.pop(next(iter(_OPEN)))
        _OPEN[key] = Resources(settings)
    return _OPEN[key]
