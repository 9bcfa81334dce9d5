"""The `sql` source: llmopt's own request table in `database_url` (SQLite, PostgreSQL)."""

from llmopt.extract.sources import register
from llmopt.extract.sql_source import SqlRequestLog


@register("sql")
def open_sql(config, settings, engine):
    return SqlRequestLog(settings.database_url, settings.requests_table, settings.quarantine_table, engine=engine)
