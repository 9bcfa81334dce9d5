"""The `litellm` source over the proxy's `LiteLLM_SpendLogs` table (PostgreSQL, as the proxy requires).

The columns are LiteLLM's `schema.prisma` model (`startTime`/`endTime`/`completionStartTime` are UTC timestamps,
`spend` the cost, `metadata` JSON with `status`, `error_information`, `usage_object`, `additional_usage_values`
and the request's `spend_logs_metadata`), as `proxy/spend_tracking/spend_tracking_utils.py::get_logging_payload`
writes them. Rows are read per window by `startTime` (indexed), then mapped in DuckDB like the S3 objects.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import duckdb
import pandas as pd
import pyarrow as pa
from sqlalchemy import text

from llmopt.domain import utc
from llmopt.extract.frame_types import conform_table, to_contract_frame
from llmopt.extract.sources import SOURCE_FILE
from llmopt.extract.sources.litellm_mapping import (MAPPED_FIELDS, OUTPUT_EXTRA, contract_sql, field_specs, quote,
                                                   spec_sql)
from llmopt.extract.sql_source import open_engine

# a request's own key/value pairs reach the table only as `metadata.spend_logs_metadata` (the proxy's special param)
DEFAULTS = {"service": "metadata.spend_logs_metadata.service", "task_type": "metadata.spend_logs_metadata.task",
            "experiment_id": "metadata.spend_logs_metadata.experiment_id",
            "variant": "metadata.spend_logs_metadata.variant"}
COLUMNS = ('request_id, "startTime", "endTime", "completionStartTime", status, model, model_group, '
           'custom_llm_provider, spend, prompt_tokens, completion_tokens, CAST(metadata AS TEXT) AS metadata, '
           'CAST(request_tags AS TEXT) AS request_tags, CAST(proxy_server_request AS TEXT) AS request, '
           'CAST(response AS TEXT) AS response')


class SpendLogs:
    """Windows of the proxy's spend log `table_name` in `database_url`.

    Args:
        mapping: `source.mapping`; service and task default to the request's `spend_logs_metadata.service`/`.task`
            (and come from an llmopt `<service>/<task_type>` model group first).
    """

    def __init__(self, database_url: str, table_name: str, mapping, engine=None):
        self.engine = engine if engine is not None else open_engine(database_url)
        self.table = ".".join(f'"{part}"' for part in table_name.split("."))
        self.specs = field_specs(mapping, DEFAULTS)
        self.explicit = {f for f in ("service", "task_type") if getattr(mapping, f)}

    def _where(self) -> str:
        return f'FROM {self.table} WHERE "startTime" >= :start AND "startTime" < :end'

    @staticmethod
    def _bounds(start: datetime, end: datetime) -> dict:
        # the columns are naive UTC (`timestamp(3)`, LiteLLM's `_ensure_datetime_utc`)
        return {"start": utc(start).replace(tzinfo=None), "end": utc(end).replace(tzinfo=None)}

    def present_columns(self) -> list[str]:
        from llmopt.extract.sources.litellm import PRESENT

        return PRESENT + (["quality_score"] if self.specs["quality"] is not None else [])

    def row_counts(self, windows: list[tuple[datetime, datetime]]) -> list[int]:
        """Rows per window (exact)."""
        with self.engine.connect() as conn:
            return [conn.execute(text(f"SELECT count(*) {self._where()}"), self._bounds(s, e)).scalar_one()
                    for s, e in windows]

    def fingerprints(self, windows: list[tuple[datetime, datetime]]) -> list[str]:
        """Per window, the rows' ids and `updated_at` (prisma's @updatedAt: every edit moves it), digested."""
        query = text(f"SELECT count(*), md5(string_agg(request_id || ' ' || CAST(updated_at AS TEXT), ',' "
                     f"ORDER BY request_id)) {self._where()}")
        with self.engine.connect() as conn:
            rows = [tuple(conn.execute(query, self._bounds(s, e)).one()) for s, e in windows]
        return [hashlib.sha256(f"{self.table} {n} {digest}".encode()).hexdigest() for n, digest in rows]

    def read_partition(self, start: datetime, end: datetime, columns: list[str]) -> pd.DataFrame:
        """The rows with `startTime` in [start, end), as contract columns."""
        return to_contract_frame(self.read_table(start, end, columns))

    def read_table(self, start: datetime, end: datetime, columns: list[str]) -> pa.Table:
        """`read_partition` as Arrow, for the columnar engine."""
        with self.engine.connect() as conn:
            rows = pd.read_sql(text(f"SELECT {COLUMNS} {self._where()}"), conn, params=self._bounds(start, end))
        table = map_spend_logs(rows, self.table, self.specs, self.explicit, utc(start), utc(end))
        wanted = [c for c in columns if c in table.column_names]
        return conform_table(table.select(wanted + [c for c in OUTPUT_EXTRA if c in table.column_names]))


def map_spend_logs(rows: pd.DataFrame, table: str, specs, explicit, start: datetime, end: datetime) -> pa.Table:
    """The contract columns of spend log rows (their columns as selected by COLUMNS), as Arrow."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("rows", rows)
    record = ("json_object('metadata', try(CAST(metadata AS JSON)), 'request_tags', try(CAST(request_tags AS JSON)), "
              "'proxy_server_request', try(CAST(request AS JSON)), 'model_group', model_group)")
    mapped = ", ".join(f"{spec_sql(specs[f], 'record', 'request_tags')} AS {f}_m" for f in (*MAPPED_FIELDS, "quality"))

    def meta(path: str) -> str:
        return f"try(json_extract_string(metadata, '$.{path}'))"

    con.execute(f"""CREATE TEMP VIEW raw AS
    WITH r AS (SELECT *, {record} AS record FROM rows)
    SELECT request_id, epoch(CAST("startTime" AS TIMESTAMP)) AS start_s, epoch(CAST("endTime" AS TIMESTAMP)) AS end_s,
           epoch(CAST("completionStartTime" AS TIMESTAMP)) AS completion_start_s,
           coalesce(nullif(status, ''), {meta('status')}) AS status, {meta('error_information.error_class')} AS error_class,
           custom_llm_provider AS provider_raw, model AS model_raw, model_group, spend AS cost, false AS cost_failed,
           prompt_tokens, completion_tokens,
           coalesce({meta('additional_usage_values.cache_read_input_tokens')},
                    {meta('usage_object.prompt_tokens_details.cached_tokens')}) AS cached_tokens,
           coalesce(try(json_extract_string(request, '$.max_tokens')),
                    try(json_extract_string(request, '$.max_completion_tokens'))) AS max_tokens,
           try(json_extract_string(request, '$.temperature')) AS temperature,
           try(json_extract_string(response, '$.choices[0].finish_reason')) AS finish_reason,
           {mapped},
           CASE WHEN metadata IS NOT NULL AND try(CAST(metadata AS JSON)) IS NULL THEN 'metadata is not valid JSON'
           END AS json_error,
           {quote(table)} AS {SOURCE_FILE}, CAST(NULL AS TIMESTAMPTZ) AS name_ts
    FROM r""")
    start_sql, end_sql = f"'{start.isoformat()}'::TIMESTAMPTZ", f"'{end.isoformat()}'::TIMESTAMPTZ"
    return con.sql(contract_sql(specs, explicit, start_sql, end_sql)).to_arrow_table()

