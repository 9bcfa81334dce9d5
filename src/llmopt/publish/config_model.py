"""The published service config as typed objects: what llmopt writes, and what it reads back, parsed once.

The JSON contract gateways check is `data_contracts/service_config.schema.json`; a unit test holds these
models and that schema to the same fields, so neither can drift from the other.
`to_dict()` gives the exact JSON form (field order included) that is written and hashed.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer

from llmopt.domain import Strategy


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Target(_Part):
    """A model and its provider (a fallback, an escalation target)."""

    model: str
    provider: str


class Cascade(_Part):
    escalate_to: Target
    min_confidence: float


class PromptCaching(_Part):
    enabled: bool
    ttl_s: float = Field(gt=0)


class Canary(_Part):
    """A switch being ramped in: the gateway sends `weight` of the task's traffic to this model."""

    model: str = Field(min_length=1)
    provider: str = Field(min_length=1)
    weight: float = Field(gt=0, lt=1)
    started_at: str


class Route(_Part):
    """How a gateway serves one task type: the model, and the settings strategies put on the route."""

    model: str = Field(min_length=1)
    provider: str = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    cascade: Cascade | None = None
    prompt_caching: PromptCaching | None = None
    canary: Canary | None = None

    @model_serializer(mode="wrap")
    def _drop_unset_settings(self, handler) -> dict:
        # a route carries only the settings some change gave it
        return {k: v for k, v in handler(self).items() if v is not None or k in ("model", "provider")}


class ModelSettings(_Part):
    """How a gateway calls one deployment (the reliability strategy)."""

    provider: str = Field(min_length=1)
    timeout_s: float | None = Field(gt=0)
    retries: int = Field(ge=0, le=5)
    fallbacks: list[Target]


class DecisionRecord(_Part):
    model_config = ConfigDict(frozen=True, extra="allow")

    state: Literal["approved"]
    by: str
    at: str
    id: int | None = None


class ChangeRecord(_Part):
    """One approved change as the config records it, with its evidence."""

    strategy: Strategy
    task_type: str
    from_: dict[str, Any] = Field(alias="from")
    to: dict[str, Any]
    expected_savings_usd_per_day: float
    evidence: dict[str, Any]
    decision: DecisionRecord


class Variant(_Part):
    name: str
    weight: float = Field(gt=0)
    model: str
    provider: str


class ExperimentEntry(_Part):
    """A running or concluded experiment; gateways split a running one with `llmopt.client.assign`."""

    id: str = Field(min_length=1)
    task_type: str
    salt: str = Field(min_length=1)
    control: str
    variants: list[Variant] = Field(min_length=2)
    status: Literal["running", "stopped", "concluded"]
    call: str | None
    origin: Literal["exploration"] | None = None     # started by llmopt's exploration strategy (not a definition)
    started_at: str | None = None

    @model_serializer(mode="wrap")
    def _drop_unset(self, handler) -> dict:
        return {k: v for k, v in handler(self).items() if v is not None or k not in ("origin", "started_at")}


class Lineage(_Part):
    """Where a version came from: the runs that made it, the version before it, its input."""

    prefect_flow_run_id: str | None
    mlflow_run_id: str | None
    previous_version: int | None = Field(ge=1)
    window_start: str
    window_end: str
    input_fingerprint: str = Field(pattern=r"^[0-9a-f]{64}$")


class ServiceConfig(_Part):
    """One published, versioned configuration of a service."""

    schema_version: Literal["1.0"]
    service: str = Field(min_length=1)
    version: int = Field(ge=1)
    created_at: str
    routes: dict[str, Route]
    changes: list[ChangeRecord]
    model_settings: dict[str, ModelSettings] = Field(default_factory=dict)
    experiments: list[ExperimentEntry] = Field(default_factory=list)
    lineage: Lineage
    content_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @classmethod
    def from_json(cls, raw: bytes | str) -> ServiceConfig:
        """Parse a stored config.

        Raises:
            pydantic.ValidationError: naming the field that breaks the contract.
        """
        return cls.model_validate(json.loads(raw))

    def to_dict(self) -> dict:
        """The JSON form, as written to the store and hashed (fields in declared order; absent ones stay absent)."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), indent=2).encode()

    def route(self, task_type: str) -> Route | None:
        return self.routes.get(task_type)


LatestConfigs = dict[str, "ServiceConfig | None"]
"""Per service, its latest published config (None before its first version)."""


def route_of(latest: LatestConfigs, service: str, task_type: str) -> Route | None:
    """The published route of a task, or None where the service or task has none."""
    config = latest.get(service)
    return config.route(task_type) if config else None
