"""Experiment definitions, as users write them under `experiments:` in settings (or `experiments_file`)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Metric = Literal["quality", "cost_per_request", "latency", "error_rate", "ttft"]
HIGHER_IS_BETTER: dict[str, bool] = {"quality": True, "cost_per_request": False, "latency": False,
                                     "error_rate": False, "ttft": False}


class Variant(BaseModel):
    """One arm: its share of traffic and the route (model, provider) it sends requests to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    weight: float = Field(gt=0)
    model: str = Field(min_length=1)
    provider: str = Field(min_length=1)


class GuardrailMetric(BaseModel):
    """A metric that must not get worse by more than `margin`.

    The margin is relative to control (0.10 = 10% worse) unless `relative: false`, when it is in the
    metric's own units (e.g. 0.01 = one more failed request in a hundred): use that for rare events
    such as errors, whose relative change is too noisy to bound.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: Metric
    margin: float = Field(ge=0)
    relative: bool = True


class ExperimentDefinition(BaseModel):
    """An A/B/n experiment on one (service, task_type).

    `minimum_effect` is the smallest relative change of the primary metric worth acting on: power
    and "time still needed" aim at it, and an interval inside ±minimum_effect means "no difference".
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    service: str
    task_type: str
    variants: list[Variant] = Field(min_length=2)
    control: str
    primary_metric: Metric = "quality"
    guardrails: list[GuardrailMetric] = Field(default_factory=list)
    minimum_effect: float = Field(0.02, gt=0)
    min_runtime_hours: float = Field(24, ge=0)
    max_runtime_hours: float = Field(14 * 24, gt=0)
    min_samples: int = Field(200, ge=2)
    salt: str = Field(min_length=1)
    start: datetime
    status: Literal["running", "stopped"] = "running"

    @field_validator("start")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)

    @model_validator(mode="after")
    def _control_is_a_variant(self) -> "ExperimentDefinition":
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"experiment {self.id}: variant names must be unique, got {names}")
        if self.control not in names:
            raise ValueError(f"experiment {self.id}: control {self.control!r} is not one of the variants {names}")
        if self.max_runtime_hours < self.min_runtime_hours:
            raise ValueError(f"experiment {self.id}: max_runtime_hours < min_runtime_hours")
        return self

    def variant(self, name: str) -> Variant:
        return next(v for v in self.variants if v.name == name)

    @property
    def treatments(self) -> list[Variant]:
        return [v for v in self.variants if v.name != self.control]

    def config_entry(self) -> dict:
        """What a published config carries so a gateway can assign units (see llmopt.client.assign)."""
        return {"id": self.id, "task_type": self.task_type, "salt": self.salt, "control": self.control,
                "variants": [v.model_dump() for v in self.variants]}
