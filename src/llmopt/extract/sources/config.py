"""The `source:` setting: which request log llmopt reads, one model per kind (a discriminated union on `kind`).

```yaml
source: {kind: litellm, path: s3://logs/litellm}                      # LiteLLM's s3_v2 logger objects
source: {kind: otel, path: /var/log/otel/spans.jsonl}                 # OTLP JSON lines (Collector `file` exporter)
source: {kind: langfuse, path: s3://exports/langfuse, latency_unit: seconds}
source: {kind: lake, path: s3://lake/requests, format: parquet}       # llmopt's own columns in files
source: {kind: sql}                                                   # llmopt's own table at database_url (default)
```

`mapping` names where the fields no format standardises come from (see `llmopt.extract.sources.mapping`).
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field


class QualityMapping(BaseModel):
    """Which score is the request's quality: a score's `name` (Langfuse, OTel evaluation events, feedback rows)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    score: str | None = None        # None: the format's default (a `quality_score`, else the only score present)


class SourceMapping(BaseModel):
    """Where service, task_type, experiment_id, variant and quality come from; None keeps the format's default.

    A field spec is `path.to.field` (a field of the record, dotted), `resource:<attr>` (an OTel resource attribute),
    `attr:<attr>` (an attribute of the span), `ancestor:<attr>` (of the nearest ancestor span that has it),
    `tag:<prefix>` (the rest of the first tag that starts with it, e.g. `tag:task=`), or `const:<value>`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: str | None = None
    task_type: str | None = None
    experiment_id: str | None = None
    variant: str | None = None
    quality: QualityMapping = Field(default_factory=QualityMapping)


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SqlSource(_Source):
    """llmopt's own request table (`requests_table`) in `database_url`."""

    kind: Literal["sql"] = "sql"


class LakeSource(_Source):
    """llmopt's own columns in Parquet or CSV files: a file, folder, glob or hive layout, local or `s3://`."""

    kind: Literal["lake"] = "lake"
    path: str
    format: Literal["auto", "parquet", "csv"] = "auto"


class LitellmSource(_Source):
    """LiteLLM's logs: the `s3_v2`/`s3` loggers' objects under `path` (`s3://bucket/prefix` or a folder), or the
    proxy's spend log table (`spend_logs_table`, e.g. `LiteLLM_SpendLogs`) in `database_url`."""

    kind: Literal["litellm"] = "litellm"
    path: str | None = None
    spend_logs_table: str | None = None
    # LiteLLM names an object after the request's start in its process's local clock: that clock's IANA zone
    object_time_zone: str = "UTC"
    mapping: SourceMapping = Field(default_factory=SourceMapping)


class OtelSource(_Source):
    """OpenTelemetry GenAI spans as OTLP JSON lines (`resourceSpans → scopeSpans → spans`): a file, folder or glob."""

    kind: Literal["otel"] = "otel"
    path: str
    mapping: SourceMapping = Field(default_factory=SourceMapping)


class LangfuseSource(_Source):
    """Langfuse's blob-storage export (observations and scores; JSONL, CSV or Parquet, gzip or not) under `path`."""

    kind: Literal["langfuse"] = "langfuse"
    path: str
    # `latency`/`time_to_first_token` are seconds; exports of integrations made before 2026-04-01 wrote milliseconds
    latency_unit: Literal["seconds", "milliseconds"] = "seconds"
    mapping: SourceMapping = Field(default_factory=SourceMapping)


class FeedbackSettings(BaseModel):
    """Scores that arrive apart from their requests (user feedback, an offline judge, Langfuse scores):
    rows of `(request_id, name, value, ts)` in a table of `database_url` or in files (JSONL, CSV or Parquet, gzip
    or not; a folder, glob or `s3://` prefix). Joined to their requests when a partition is rolled up."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str | None = None        # e.g. llm_feedback, in database_url
    path: str | None = None         # files instead of a table
    name: str | None = None         # the score that is quality (None: every score counts)
    id_column: str = "request_id"   # the id the score names (a request's id, as the source maps it)


SourceSettings = Annotated[Union[SqlSource, LakeSource, LitellmSource, OtelSource, LangfuseSource],
                           Field(discriminator="kind")]
