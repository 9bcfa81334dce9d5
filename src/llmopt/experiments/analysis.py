"""The hourly call on an experiment: ship a variant, keep running, or stop — from cumulative statistics.

Every look uses always-valid (sequential) intervals on relative effects, so peeking each hour keeps
the error rate; p-values are Holm-corrected across treatments × metrics.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from llmopt.experiments.definitions import HIGHER_IS_BETTER, ExperimentDefinition
from llmopt.stats import (EffectResult, MeanStats, ProportionStats, SrmResult, adjust_p_values, bayesian_ab,
                          power_analysis, sequential_ci, srm_check)

SHIP, KEEP_RUNNING, NO_DIFFERENCE, GUARDRAIL_BREACHED, BLOCKED_SRM = (
    "ship", "keep running", "stop: no difference", "stop: guardrail breached", "blocked: sample ratio mismatch")


@dataclass(frozen=True)
class VariantStats:
    """Cumulative statistics of one variant since the experiment started: metric name → sufficient statistics."""

    variant: str
    units: int
    metrics: dict[str, MeanStats | ProportionStats]


@dataclass(frozen=True)
class MetricComparison:
    """One treatment vs control on one metric (always-valid interval; relative unless a guardrail says not)."""

    variant: str
    metric: str
    role: str                      # "primary" or "guardrail"
    margin: float | None           # non-inferiority margin of a guardrail (relative)
    effect: EffectResult
    adjusted_p_value: float
    chance_to_win: float
    verdict: str                   # better | worse | non-inferior | breached | inconclusive | cannot compute


@dataclass(frozen=True)
class ExperimentCall:
    """The call on one experiment with all of its evidence."""

    experiment_id: str
    service: str
    task_type: str
    call: str
    reason: str
    ship_variant: str | None
    hours_run: float
    units: dict[str, int]
    srm: SrmResult
    hours_still_needed: float | None
    comparisons: list[MetricComparison] = field(default_factory=list)
    means: dict[str, dict[str, float]] = field(default_factory=dict)   # variant → metric → mean so far

    @property
    def label(self) -> str:
        return f"{SHIP} {self.ship_variant}" if self.call == SHIP else self.call

    def to_dict(self) -> dict:
        out = asdict(self)
        out["label"] = self.label
        return out


def verdict_of(metric: str, role: str, margin: float | None, effect: EffectResult, adjusted_p: float,
               alpha: float) -> str:
    """Classify an always-valid interval of a relative effect, oriented so that "better" is good."""
    if not effect.ok:
        return f"cannot compute: {effect.error}"
    sign = 1 if HIGHER_IS_BETTER[metric] else -1
    worst, best = sorted((sign * effect.ci_low, sign * effect.ci_high))
    significant = adjusted_p < alpha
    if role == "guardrail":
        if best < -margin:
            return "breached"
        return "non-inferior" if worst >= -margin else "inconclusive"
    if significant and sign * effect.effect > 0:
        return "better"
    if significant and sign * effect.effect < 0:
        return "worse"
    return "inconclusive"


def analyze_experiment(definition: ExperimentDefinition, stats: dict[str, VariantStats], hours_run: float,
                       confidence: float = 0.95) -> ExperimentCall:
    """Call the experiment from its cumulative per-variant statistics.

    Order of checks: sample-ratio mismatch blocks everything; a treatment whose primary metric is
    better (Holm-adjusted always-valid p < alpha) with every guardrail shown non-inferior ships once
    `min_runtime_hours` and `min_samples` are met; if every treatment breached a guardrail (or is
    significantly worse) the experiment stops; if every primary interval lies within ±minimum_effect
    or `max_runtime_hours` has passed, it stops with no difference; otherwise it keeps running.
    """
    alpha = 1 - confidence
    units = {v.name: stats[v.name].units if v.name in stats else 0 for v in definition.variants}
    srm = srm_check([units[v.name] for v in definition.variants], [v.weight for v in definition.variants])

    means = {name: {m: s.mean for m, s in v.metrics.items()} for name, v in stats.items()}

    def call(kind: str, reason: str, comparisons=(), ship=None, needed=None) -> ExperimentCall:
        return ExperimentCall(definition.id, definition.service, definition.task_type, kind, reason, ship,
                              hours_run, units, srm, needed, list(comparisons), means)

    if srm.mismatch:
        return call(BLOCKED_SRM, f"units per variant {units} do not match the weights (SRM p = {srm.p_value:.2g} "
                                 "< 0.001): check assignment and logging before trusting any result")
    if min(units.values()) < 2:
        return call(KEEP_RUNNING, "not enough traffic in every variant yet", needed=None)
    control = stats[definition.control]
    plan = [(definition.primary_metric, "primary", None, True)] + [
        (g.metric, "guardrail", g.margin, g.relative) for g in definition.guardrails]
    raw = []
    for treatment in definition.treatments:
        for metric, role, margin, relative in plan:
            effect = sequential_ci(control.metrics[metric], stats[treatment.name].metrics[metric], relative=relative,
                                   confidence=confidence)
            raw.append((treatment.name, metric, role, margin, effect))
    p_values = [r[4].p_value if r[4].ok else 1.0 for r in raw]
    adjusted = adjust_p_values(p_values, "holm", alpha).adjusted
    comparisons = []
    for (name, metric, role, margin, effect), p in zip(raw, adjusted):
        bayes = bayesian_ab(control.metrics[metric], stats[name].metrics[metric], relative=True,
                            confidence=confidence, inverse=not HIGHER_IS_BETTER[metric])
        comparisons.append(MetricComparison(name, metric, role, margin, effect, p,
                                            bayes.chance_to_win if bayes.ok else math.nan,
                                            verdict_of(metric, role, margin, effect, p, alpha)))
    by_variant = {t.name: [c for c in comparisons if c.variant == t.name] for t in definition.treatments}
    primary = {name: next(c for c in cs if c.role == "primary") for name, cs in by_variant.items()}
    mature = hours_run >= definition.min_runtime_hours and min(
        s.n for v in stats.values() for s in [v.metrics[definition.primary_metric]]) >= definition.min_samples

    winners = [name for name, cs in by_variant.items()
               if primary[name].verdict == "better" and all(c.verdict == "non-inferior" for c in cs if c.role == "guardrail")]
    if winners and mature:
        best = max(winners, key=lambda n: (primary[n].chance_to_win, abs(primary[n].effect.effect)))
        p = primary[best]
        return call(SHIP, f"{best}: {definition.primary_metric} {p.effect.effect:+.2%} "
                          f"[{p.effect.ci_low:+.2%}, {p.effect.ci_high:+.2%}] always-valid, Holm p = "
                          f"{p.adjusted_p_value:.2g}; guardrails non-inferior", comparisons, ship=best)
    losers = {name: cs for name, cs in by_variant.items()
              if primary[name].verdict == "worse" or any(c.verdict == "breached" for c in cs)}
    if len(losers) == len(by_variant) and any(c.verdict == "breached" for cs in losers.values() for c in cs):
        breached = sorted({f"{c.variant}: {c.metric}" for cs in losers.values() for c in cs if c.verdict == "breached"})
        return call(GUARDRAIL_BREACHED, "every treatment is worse; breached: " + ", ".join(breached), comparisons)
    equivalent = all(c.effect.ok and -definition.minimum_effect < c.effect.ci_low and
                     c.effect.ci_high < definition.minimum_effect for c in primary.values())
    if (equivalent and mature) or hours_run >= definition.max_runtime_hours or len(losers) == len(by_variant):
        why = ("every primary interval lies within ±minimum_effect" if equivalent else
               "every treatment is worse on the primary metric" if len(losers) == len(by_variant) else
               f"max_runtime_hours ({definition.max_runtime_hours:g}) reached without a winner")
        return call(NO_DIFFERENCE, why, comparisons)
    needed = hours_still_needed(definition, stats, hours_run, confidence)
    reason = ("a winner is emerging but min_runtime_hours/min_samples are not met yet" if winners else
              "no treatment is conclusively better yet")
    return call(KEEP_RUNNING, reason, comparisons, needed=needed)


def hours_still_needed(definition: ExperimentDefinition, stats: dict[str, VariantStats], hours_run: float,
                       confidence: float) -> float | None:
    """Hours until the primary metric has power 0.8 for ±minimum_effect at the current traffic rate."""
    control = stats[definition.control].metrics[definition.primary_metric]
    total_units = sum(v.units for v in stats.values())
    if hours_run <= 0 or total_units == 0:
        return None
    rate = total_units / hours_run
    worst = 0.0
    for t in definition.treatments:
        power = power_analysis(control, stats[t.name].metrics[definition.primary_metric],
                               definition.minimum_effect, relative=True, confidence=confidence)
        if power.error:
            return None
        # scale from the primary metric's observations (e.g. scored requests) to all units
        observed = control.n + stats[t.name].metrics[definition.primary_metric].n
        worst = max(worst, power.additional_units * total_units / observed / rate)
    return max(worst, definition.min_runtime_hours - hours_run, 0.0)
