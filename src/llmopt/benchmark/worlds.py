"""Worlds whose truth is known: each a workload (tasks, models) plus the policy the flow runs under."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from llmopt.extract.synthetic import MODELS, TASKS, ModelProfile, TaskProfile

CHEAP = "gpt-4o-mini"


@dataclass(frozen=True)
class World:
    """A simulated world.

    Attributes:
        drift_tasks: the truth of the last `drift_hours` hours (what a switch would get); before them, `tasks`.
        counts_for_capture: whether the ≥ 90% savings-capture target applies to one hour (evidence is ample);
            every world counts once a day of history is pooled.
    """

    name: str
    description: str
    tasks: tuple[TaskProfile, ...] = TASKS
    models: dict[str, ModelProfile] = field(default_factory=lambda: dict(MODELS))
    drift_tasks: tuple[TaskProfile, ...] | None = None
    rows_per_hour: int = 60_000
    exploration_share: float = 0.30
    policy: dict = field(default_factory=dict)
    counts_for_capture: bool = True
    drift_hours: int = 1

    @property
    def hours(self) -> int:
        """The fewest hours of traffic the world needs (the drift's, plus one before it)."""
        return self.drift_hours + 1 if self.drift_tasks else 1

    @property
    def truth(self) -> tuple[TaskProfile, ...]:
        """The quality that holds after the window (what a switch would get)."""
        return self.drift_tasks or self.tasks


def with_cheap_quality(offset: float) -> tuple[TaskProfile, ...]:
    """Every task with gpt-4o-mini's true quality set to the production model's + `offset`."""
    return tuple(replace(t, true_quality={**t.true_quality, CHEAP: t.true_quality[t.production_model] + offset})
                 for t in TASKS)


def worlds() -> list[World]:
    slow_mini = {**MODELS, CHEAP: replace(MODELS[CHEAP], base_ms=9000.0)}
    sla = {"services": {"support": {"latency_p95_ms": 12_000}, "search": {"latency_p95_ms": 12_000}}}
    below = with_cheap_quality(-0.06)
    return [
        World("clear-win", "the bundled truth: gpt-4o-mini is good enough on 3 of 6 tasks"),
        World("none-good-enough", "every cheaper model is ≥ 0.05 below production quality",
              tasks=tuple(replace(t, true_quality={m: (q if m == t.production_model else
                                                       min(q, t.true_quality[t.production_model] - 0.05))
                                                   for m, q in t.true_quality.items()}) for t in TASKS)),
        World("cheaper-breaks-sla", "gpt-4o-mini is good enough but slow; the latency SLA rules it out",
              models=slow_mini, policy=sla),
        World("tiny-samples", "the clear-win truth with 3,000 requests in the hour", rows_per_hour=3_000,
              counts_for_capture=False),
        World("at-the-margin", "gpt-4o-mini is 0.025 below production everywhere: just past the 0.02 margin",
              tasks=with_cheap_quality(-0.025)),
        World("drift", "gpt-4o-mini was good enough in hour 1 and is 0.06 worse in hour 2",
              tasks=with_cheap_quality(0.0), drift_tasks=below),
        World("heavy-exploration", "the clear-win truth with 50% exploration traffic", exploration_share=0.50),
        World("light-exploration", "the clear-win truth with 1% exploration traffic", exploration_share=0.01,
              counts_for_capture=False),
        World("degrades-late", "gpt-4o-mini is good enough all day, then 0.06 worse in the last 3 hours",
              tasks=with_cheap_quality(0.0), drift_tasks=below, drift_hours=3, rows_per_hour=10_000),
    ]
