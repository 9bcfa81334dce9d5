"""The one settings object: `llmopt.yaml`, overridden by `LLMOPT_*` environment variables.

Nested fields use `__` in environment variables, e.g. `LLMOPT_POLICY__APPROVAL=manual`.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from llmopt.experiments.definitions import ExperimentDefinition
from llmopt.extract.sources.config import FeedbackSettings, SourceSettings

# Package data, found the same way in a wheel and in a checkout (where validate/contracts links to data_contracts/).
BUNDLED_PRICES = Path(str(files("llmopt.data").joinpath("model_prices.json")))
BUNDLED_CONTRACTS = Path(str(files("llmopt.validate").joinpath("contracts")))
DEFAULT_CONFIG_FILE = Path("llmopt.yaml")
BUILTIN_STRATEGIES = {"routing", "reliability", "max_tokens", "prompt_caching", "cascade", "exploration"}   # tested against the registry


class GuardrailOverrides(BaseModel):
    """Per-service overrides: any guardrail of the policy, all optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    approval: Literal["auto", "manual"] | None = None
    confidence: float | None = Field(None, gt=0.5, lt=1)
    quality_margin: float | None = Field(None, ge=0, le=1)
    max_error_rate: float | None = Field(None, ge=0, le=1)
    latency_p95_ms: float | None = Field(None, gt=0)
    min_samples: int | None = Field(None, ge=2)
    min_savings_usd_per_day: float | None = Field(None, ge=0)
    allowed_models: list[str] | None = None
    auto_approve_max_traffic_share: float | None = Field(None, gt=0, le=1)
    timeout_cutoff_share: float | None = Field(None, gt=0, lt=0.5)
    reliability_min_requests: int | None = Field(None, ge=10)
    truncation_target: float | None = Field(None, gt=0, lt=0.5)
    budget_usd_per_day: float | None = Field(None, gt=0)
    lookback_hours: int | None = Field(None, ge=1, le=24 * 31)
    exploration_max_share: float | None = Field(None, ge=0, le=0.5)
    exploration_quality_loss_budget: float | None = Field(None, ge=0)
    exploration_max_hours: float | None = Field(None, gt=0)
    exploration_candidates: list[str] | None = None
    canary_steps: list[float] | None = None
    canary_step_hours: float | None = Field(None, gt=0)


class Guardrails(BaseModel):
    """The guardrails that apply to one service (policy defaults plus its overrides)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    approval: Literal["auto", "manual"] = "auto"
    confidence: float = Field(0.95, gt=0.5, lt=1)
    quality_margin: float = Field(0.02, ge=0, le=1)
    max_error_rate: float = Field(0.05, ge=0, le=1)
    latency_p95_ms: float | None = Field(None, gt=0)
    min_samples: int = Field(200, ge=2)
    min_savings_usd_per_day: float = Field(0.0, ge=0)
    allowed_models: list[str] | None = None
    auto_approve_max_traffic_share: float = Field(1.0, gt=0, le=1)
    timeout_cutoff_share: float = Field(0.01, gt=0, lt=0.5)
    reliability_min_requests: int = Field(100, ge=10)
    truncation_target: float = Field(0.005, gt=0, lt=0.5)
    budget_usd_per_day: float | None = Field(None, gt=0)
    # evidence pooled over this many hours up to the window's end (the hourly rollups of the lookback)
    lookback_hours: int = Field(24, ge=1, le=24 * 31)
    # exploration (strategy `exploration`): at most this share of a task's traffic leaves its serving model, and the
    # expected quality lost per request of the task (share × expected gap, under the posterior) stays under the budget
    exploration_max_share: float = Field(0.05, ge=0, le=0.5)
    exploration_quality_loss_budget: float = Field(0.002, ge=0)
    exploration_max_hours: float = Field(72, gt=0)
    exploration_candidates: list[str] | None = None     # models worth trying (default: allowed_models, else any seen)
    # an approved route switch ramps through these shares of the task's traffic, one step per canary_step_hours,
    # then moves the route; [] switches at once
    canary_steps: list[float] = Field(default_factory=lambda: [0.1, 0.5])
    canary_step_hours: float = Field(1, gt=0)

    @field_validator("canary_steps")
    @classmethod
    def _increasing_shares(cls, value: list[float]) -> list[float]:
        if any(not 0 < w < 1 for w in value) or sorted(set(value)) != list(value):
            raise ValueError(f"canary_steps: increasing shares strictly between 0 and 1, got {value}")
        return value


class Policy(Guardrails):
    """Guardrails for every service, per-service overrides, the bad-row limit and the approval wait."""

    # drift guard: the last `drift_recent_hours` and the last `drift_short_hours` (0: off) of the lookback, each
    # against the hours before it, two-sided tests at `drift_alpha` / 2 each (Bonferroni over the two windows)
    drift_recent_hours: int = Field(3, ge=1)
    drift_short_hours: int = Field(1, ge=0)
    drift_alpha: float = Field(0.001, gt=0, lt=0.5)
    max_bad_row_share: float = Field(0.05, ge=0, le=1)
    # the share is judged only on a partition of at least this many rows: one stray row is 100% of nothing
    bad_row_share_min_rows: int = Field(100, ge=1)
    approval_timeout_minutes: float = Field(0, ge=0)
    monitor_hours: float = Field(24, gt=0)
    exploration_max_candidates: int = Field(3, ge=1)
    exploration_cooldown_hours: float = Field(7 * 24, ge=0)   # no new exploration of a task this soon after one ends
    services: dict[str, GuardrailOverrides] = Field(default_factory=dict)

    def for_service(self, service: str) -> Guardrails:
        """Return the guardrails for `service`: defaults with that service's overrides applied."""
        base = self.model_dump(include=set(Guardrails.model_fields))
        overrides = self.services.get(service)
        if overrides is not None:
            base.update(overrides.model_dump(exclude_none=True))
        return Guardrails(**base)


class Settings(BaseSettings):
    """Everything llmopt reads from its environment. Passed down explicitly; never read elsewhere."""

    model_config = SettingsConfigDict(
        env_prefix="LLMOPT_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    database_url: str = "sqlite:///.llmopt/requests.db"
    # Parquet or CSV request logs (file, folder, glob or hive layout date=…/hour=…; local or s3://): read instead
    # of `requests_table` when set; the quarantine and decision tables stay in `database_url`.
    requests_path: str | None = None
    requests_format: Literal["auto", "parquet", "csv"] = "auto"
    # the request log's format and place (`llmopt.extract.sources.config`); None: requests_path, else requests_table
    source: SourceSettings | None = None
    # late scores (`llmopt.extract.feedback`): joined at rollup time; a score counts up to this long after its request
    feedback: FeedbackSettings | None = None
    feedback_delay_hours: float = Field(48, ge=0)
    requests_table: str = "llm_requests"
    quarantine_table: str = "llm_requests_quarantine"
    config_store_uri: str = "file://.llmopt/configs"
    s3_endpoint_url: str | None = None
    mlflow_tracking_uri: str = "sqlite:///.llmopt/mlflow.db"
    mlflow_artifact_location: str | None = ".llmopt/mlartifacts"
    mlflow_experiment: str = "llmopt"
    # a tracking server that does not answer fails the run within about (retries + 1) × timeout, before publishing
    mlflow_timeout_seconds: float = Field(10, gt=0)
    mlflow_max_retries: int = Field(2, ge=0, le=10)
    database_timeout_seconds: float = Field(30, gt=0)             # connect (PostgreSQL) / busy wait (SQLite)
    database_statement_timeout_seconds: float = Field(900, gt=0)  # PostgreSQL statement_timeout of every query
    s3_timeout_seconds: float = Field(10, gt=0)                   # connect timeout; reads get 6× this
    s3_max_attempts: int = Field(3, ge=1, le=10)                  # per S3 request, with backoff
    prices_path: Path = BUNDLED_PRICES
    contracts_dir: Path = BUNDLED_CONTRACTS
    schedule_cron: str = "5 * * * *"
    fit_sample_rows: int = Field(20_000, ge=1_000)
    # The engine: partitions of `partition_minutes` reduced to rollups kept in `rollups_dir` (local or s3://)
    rollups_dir: str = ".llmopt/rollups"
    partition_minutes: int = Field(60, ge=5, le=60)
    partition_max_rows: int = Field(500_000, ge=1_000)  # a larger partition is read in shorter slices
    rollup_sample_rows: int = Field(20_000, ge=100)      # uniform sample per partition, for the fits and strategies
    # duckdb: each partition's contract checks and rollup in DuckDB over its Arrow table (llmopt.engine);
    # pandas: the reference path (Great Expectations on a pandas frame), e.g. to compare the two
    engine: Literal["duckdb", "pandas"] = "duckdb"
    pooled_sample_rows: int = Field(400_000, ge=1_000)   # bound of the lookback's pooled sample
    # partitions in flight at once (memory ∝ this × a partition), DuckDB's threads shared among them; 0: auto,
    # 2 on 2+ cores for 8+ partitions (a day, a backfill), else 1 (`rollup.lookback.partitions_at_once`)
    partition_concurrency: int = Field(0, ge=0)
    dask_scheduler_address: str | None = None            # e.g. tcp://scheduler:8786: partitions run on that cluster
    dask_workers: int = Field(0, ge=0)                   # > 0: a local Dask cluster with this many workers
    policy: Policy = Field(default_factory=Policy)
    strategies: list[str] = Field(default_factory=lambda: ["routing"])
    reserved_output_providers: list[str] = Field(default_factory=list)
    budget_history_days: int = Field(28, ge=2)
    exports: list[Literal["litellm", "portkey"]] = Field(default_factory=list)
    # per gateway, your provider name → the gateway's (adds to / overrides llmopt.publish.providers)
    gateway_providers: dict[Literal["litellm", "portkey"], dict[str, str]] = Field(default_factory=dict)
    # with exports [litellm]: your proxy config (general_settings, litellm_settings, own model_list) that every
    # publish merges with the services' aliases into <config store>/litellm/proxy_config.yaml
    litellm_base_config: Path | None = None
    experiments: list[ExperimentDefinition] = Field(default_factory=list)
    experiments_file: Path | None = None

    @model_validator(mode="after")
    def _add_experiments_file(self) -> "Settings":
        """Append the definitions of `experiments_file` (a YAML list, or a mapping with `experiments:`)."""
        if self.experiments_file is not None:
            raw = yaml.safe_load(Path(self.experiments_file).read_text()) or []
            items = raw.get("experiments", []) if isinstance(raw, dict) else raw
            # frozen model: set once here, during validation
            object.__setattr__(self, "experiments", [*self.experiments, *(ExperimentDefinition(**e) for e in items)])
        ids = [e.id for e in self.experiments]
        if len(set(ids)) != len(ids):
            raise ValueError(f"experiments: ids must be unique, got {ids}")
        return self

    @field_validator("strategies")
    @classmethod
    def _registered_strategies(cls, value: list[str]) -> list[str]:
        # names come from the strategy registry, so a new strategy module needs no edit here; the built-in ones
        # pass without loading it (loading imports every strategy's scipy/sklearn: ~2 s on each CLI command)
        if not set(value) <= BUILTIN_STRATEGIES:
            from llmopt.evaluate.registry import optional_strategy_names

            known = optional_strategy_names()
            unknown = [v for v in value if v not in known]
            if unknown:
                raise ValueError(f"unknown strategies {unknown}; known: {known}")
        return list(dict.fromkeys(value))

    @field_validator("requests_table", "quarantine_table")
    @classmethod
    def _plain_identifier(cls, value: str) -> str:
        # Table names are interpolated into SQL; allow only identifiers (optionally schema-qualified).
        if not all(part.isidentifier() for part in value.split(".")):
            raise ValueError(f"not a plain SQL identifier: {value!r}")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the YAML file (passed as init values), as users expect.
        return (env_settings, init_settings)

    @classmethod
    def load(cls, config_file: Path | str | None = None, **overrides: Any) -> Settings:
        """Load settings from `config_file` (default `./llmopt.yaml` if present) and `LLMOPT_*`.

        Raises:
            FileNotFoundError: an explicitly named file does not exist.
        """
        values: dict[str, Any] = {}
        path = Path(config_file) if config_file else DEFAULT_CONFIG_FILE
        if config_file and not path.exists():
            raise FileNotFoundError(f"settings file not found: {path}")
        if path.exists():
            values = yaml.safe_load(path.read_text()) or {}
        values.update(overrides)
        return cls(**values)
