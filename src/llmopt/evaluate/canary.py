"""Canary ramps: an approved switch reaches a task's traffic a share at a time, checked before every step.

An approved route switch (routing, experiment) is published as its first step: the route keeps its model and
gains `canary: {model, provider, weight}`. Each run after `canary_step_hours`, the step's traffic — both models
serving the same task at the same time, split at random by the gateway — is compared: a canary clearly worse
than the route's model (quality below it beyond `quality_margin`, or errors significantly higher and above
`max_error_rate`; the post-change monitor's rule) is withdrawn as a new version; otherwise it moves to the next
share of `canary_steps`, and after the last the route's model becomes the canary's and `canary` disappears.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta

import pandas as pd

from llmopt.domain import Change, ChangeState, Strategy, utc
from llmopt.evaluate.registry import EvaluationInputs, Scope, StrategySpec, register
from llmopt.settings import Guardrails, Policy
from llmopt.stats import EffectResult, MeanStats, ProportionStats, proportions_ztest, welch_ttest

MIN_SCORED_CANARY = 30          # scored canary requests before a step's quality can be judged


@dataclass(frozen=True)
class RampEvaluation:
    """One route's ramp in this run: hold, advance (to `next_weight`, or the whole route when None) or withdraw."""

    service: str
    task_type: str
    route: dict                   # the route as published, without its canary
    canary: dict                  # model, provider, weight, started_at
    hours_at_step: float
    action: str                   # hold | advance | withdraw
    reason: str
    next_weight: float | None = None
    quality_change: EffectResult | None = None
    error_rate_change: EffectResult | None = None
    requests: dict | None = None  # model → requests seen since the step began

    def to_dict(self) -> dict:
        return asdict(self)


def first_step(change: Change, rules: Guardrails, began: datetime) -> Change:
    """An approved route switch as the first step of its ramp (unchanged when `canary_steps` is empty)."""
    if not rules.canary_steps or change.to_model == change.from_model:
        return change
    return replace(change, to_settings={"canary_weight": rules.canary_steps[0],
                                        "canary_started_at": began.isoformat()})


def _stats(rows: pd.DataFrame) -> tuple[MeanStats, ProportionStats]:
    return (MeanStats.of(rows["quality_score"].dropna()),
            ProportionStats(len(rows), int((rows["status"] != "ok").sum())))


def evaluate_ramp(service: str, task_type: str, route: dict, sample: pd.DataFrame, rules: Guardrails,
                  now: datetime) -> RampEvaluation:
    """Judge one ramp step on the task's traffic since the step began (`sample`: the lookback's valid rows)."""
    canary = route["canary"]
    base = {k: v for k, v in route.items() if k != "canary"}
    started = utc(datetime.fromisoformat(canary["started_at"]))
    hours = (now - started) / timedelta(hours=1)
    if hours < rules.canary_step_hours:
        return RampEvaluation(service, task_type, base, canary, hours, "hold",
                              f"step at {canary['weight']:.0%} began {hours:.1f} h ago (< {rules.canary_step_hours:g} h)")
    ts = pd.to_datetime(sample["ts"], utc=True)
    rows = sample[(sample["service"] == service) & (sample["task_type"] == task_type) & (ts >= started)]
    old, new = rows[rows["model"] == base["model"]], rows[rows["model"] == canary["model"]]
    (q_old, e_old), (q_new, e_new) = _stats(old), _stats(new)
    counts = {base["model"]: len(old), canary["model"]: len(new)}
    if q_new.n < MIN_SCORED_CANARY or q_old.n < MIN_SCORED_CANARY:
        return RampEvaluation(service, task_type, base, canary, hours, "hold",
                              f"waiting for traffic: {q_new.n} scored canary / {q_old.n} scored route requests "
                              f"(< {MIN_SCORED_CANARY})", requests=counts)
    quality = welch_ttest(q_old, q_new, confidence=rules.confidence)
    errors = proportions_ztest(e_old, e_new, confidence=rules.confidence)
    problems = []
    if quality.ok and quality.ci_high < 0 and quality.effect < -rules.quality_margin:
        problems.append(f"quality {quality.effect:+.3f} (CI [{quality.ci_low:.3f}, {quality.ci_high:.3f}]) beyond "
                        f"the margin {rules.quality_margin}")
    if errors.ok and errors.ci_low > 0 and e_new.rate > rules.max_error_rate:
        problems.append(f"error rate {e_new.rate:.3f} above max_error_rate {rules.max_error_rate}")
    later = [w for w in rules.canary_steps if w > canary["weight"] + 1e-9]
    if problems:
        return RampEvaluation(service, task_type, base, canary, hours, "withdraw", "; ".join(problems), None,
                              quality, errors, counts)
    reason = (f"held at {canary['weight']:.0%} for {hours:.1f} h: quality {quality.effect:+.4f}, "
              f"error rate {e_new.rate:.4f} on {len(new)} canary requests")
    return RampEvaluation(service, task_type, base, canary, hours, "advance", reason, later[0] if later else None,
                          quality, errors, counts)


def evaluate_ramps(inputs: EvaluationInputs) -> list[RampEvaluation]:
    """Every route of the latest configs that carries a canary."""
    out = []
    for service, config in sorted(inputs.latest.items()):
        for task_type, route in sorted((config.routes if config else {}).items()):
            if route.canary is not None:
                out.append(evaluate_ramp(service, task_type, route.model_dump(mode="json", exclude_none=True),
                                         inputs.valid, inputs.settings.policy.for_service(service), inputs.window.end))
    return out


def ramp_changes(evaluations: list[RampEvaluation], policy: Policy, now: datetime, began: datetime) -> list[Change]:
    """A change per step taken: the next share, the whole route, or the canary withdrawn (all approved: the switch
    was approved when the ramp began, and a withdrawal only protects)."""
    changes = []
    for ev in evaluations:
        if ev.action == "hold":
            continue
        canary, route = ev.canary, ev.route
        evidence = {"ramp": ev.action, "reason": ev.reason, "from_weight": canary["weight"],
                    "to_weight": ev.next_weight if ev.action == "advance" else 0.0,
                    "hours_at_step": round(ev.hours_at_step, 3), "requests": ev.requests,
                    "quality_change": asdict(ev.quality_change) if ev.quality_change else None,
                    "error_rate_change": asdict(ev.error_rate_change) if ev.error_rate_change else None}
        if ev.action == "withdraw":
            to_model, to_provider = route["model"], route["provider"]
            settings = {k: v for k, v in route.items() if k not in ("model", "provider")} or None
        else:
            to_model, to_provider, settings = canary["model"], canary["provider"], None
            if ev.next_weight is not None:
                settings = {"canary_weight": ev.next_weight, "canary_started_at": began.isoformat()}
            else:
                evidence["to_weight"] = 1.0
        changes.append(Change(
            service=ev.service, task_type=ev.task_type, strategy=Strategy.CANARY,
            from_model=canary["model"] if ev.action == "withdraw" else route["model"],
            from_provider=canary["provider"] if ev.action == "withdraw" else route["provider"],
            to_model=to_model, to_provider=to_provider, expected_savings_usd_per_day=0.0, evidence=evidence,
            state=ChangeState.APPROVED, decided_by=f"policy:canary {ev.action}", decided_at=now.isoformat(),
            to_settings=settings))
    return changes


# always on: a ramp in flight must move on or be withdrawn whatever strategies are chosen now
STRATEGY = register(StrategySpec(
    Strategy.CANARY, Scope.ROUTE, precedence=0, optional=False,
    guardrails=("canary_steps", "canary_step_hours", "quality_margin", "max_error_rate", "confidence"),
    evaluate=evaluate_ramps, decide=lambda evs, d: ramp_changes(evs, d.settings.policy, d.now, d.began)))
