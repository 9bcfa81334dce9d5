"""The exploration strategy: when a task's cheaper candidates lack evidence, llmopt runs the experiment it needs.

Per (service, task_type) whose routing call is "keep" while cheaper candidates are undecided, llmopt publishes an
exploration — a running entry of the config's `experiments` (control `serving` = the serving model, one variant
per candidate, gateways split with `llmopt.client.assign`) — sized and re-allocated every hour by
`llmopt.evaluate.allocation`. Each candidate is judged with an always-valid (sequential) interval, so looking
every hour is sound: clearly worse (upper bound below −quality_margin), too many errors (Wilson lower bound above
max_error_rate) or too slow (the routing guardrail, once it has min_samples) drops it; good enough (lower bound
at least −quality_margin, and every routing guardrail passes) makes it a winner. The exploration concludes with
a switch to the cheapest winner once no cheaper candidate is undecided, or stops when every candidate is dropped
or after exploration_max_hours. A switch is an ordinary routing change (and ramps in as a canary).

The candidates come from `llmopt.evaluate.exploration_candidates` (named, else proposed from the price map). A
task that is not explored says why in its evaluation's reason (printed in the run summary): routing already
decided or is held, "cooldown until …", "no candidates: …" (with what to set), every candidate already has its
answer, or "cap reached: …" (no share of the traffic can be spared under the exploration caps).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta

import pandas as pd

from llmopt.domain import Change, Strategy, utc
from llmopt.decide.policy import policy_decision
from llmopt.evaluate.allocation import Z_CAP, Arm, allocate, share_cap
from llmopt.evaluate.exploration_candidates import candidate_pool, savings_of, task_mix
from llmopt.evaluate.registry import EvaluationInputs, Scope, StrategySpec, register
from llmopt.evaluate.routing import RoutingEvaluation, decide_routing, quality_stats
from llmopt.publish.config_model import LatestConfigs
from llmopt.settings import Guardrails
from llmopt.stats import MeanStats, ProportionStats, sequential_ci, wilson_interval

SERVING = "serving"
REALLOCATE_TOLERANCE = 0.002     # re-publish the split only when a share moves by more than this


@dataclass(frozen=True)
class Candidate:
    model: str
    provider: str
    savings_usd_per_day: float
    scored: int
    status: str                  # undecided | good enough | dropped
    reason: str
    quality_low: float | None = None    # always-valid interval of candidate − serving quality
    quality_high: float | None = None
    source: str = ""             # exploration_candidates | allowed_models | seen | proposed | running


@dataclass(frozen=True)
class ExplorationEvaluation:
    """This run's call on one task: start, reallocate, continue, conclude (with a winner), stop, or none."""

    service: str
    task_type: str
    serving_model: str
    serving_provider: str
    action: str
    reason: str
    experiment_id: str | None = None
    started_at: str | None = None
    hours: float = 0.0
    candidates: tuple[Candidate, ...] = ()
    shares: dict = field(default_factory=dict)      # candidate model → share of the task's traffic
    sizing: dict = field(default_factory=dict)
    winner: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def running_exploration(latest: LatestConfigs, service: str, task_type: str) -> dict | None:
    config = latest.get(service)
    return next((e.model_dump(mode="json") for e in (config.experiments if config else [])
                 if e.origin == "exploration" and e.task_type == task_type and e.status == "running"), None)


def _last_start(latest: LatestConfigs, service: str, task_type: str) -> datetime | None:
    config = latest.get(service)
    starts = [utc(datetime.fromisoformat(e.started_at)) for e in (config.experiments if config else [])
              if e.origin == "exploration" and e.task_type == task_type and e.started_at]
    return max(starts, default=None)


def _task_cells(ev: RoutingEvaluation, inputs: EvaluationInputs) -> pd.DataFrame:
    cells = inputs.cells
    return cells[(cells["service"] == ev.service) & (cells["task_type"] == ev.task_type)]


def _judge(ev: RoutingEvaluation, model: str, provider: str, savings: float, source: str,
           cells: pd.DataFrame, rules: Guardrails) -> tuple[Candidate, MeanStats]:
    """One candidate's status on the task's pooled `cells` (see the module's docstring)."""
    row = cells[cells["model"] == model]
    if row.empty:
        return (Candidate(model, provider, savings, 0, "undecided", "no traffic yet", source=source),
                MeanStats(0, 0.0, 0.0))
    r = row.iloc[0]
    quality = quality_stats(cells, model)
    seq = sequential_ci(quality_stats(cells, ev.current_model), quality, confidence=rules.confidence)
    low, high = (seq.ci_low, seq.ci_high) if seq.ok else (None, None)
    errors = wilson_interval(ProportionStats(int(r["requests"]), int(r["errors"])), rules.confidence)
    routed = next((c for c in ev.candidates if c.model == model), None)
    out = lambda status, why: Candidate(model, provider, savings, quality.n, status, why,  # noqa: E731
                                        low, high, source)
    if high is not None and high < -rules.quality_margin:
        return out("dropped", f"clearly worse: quality {seq.effect:+.4f}, always-valid upper bound {high:+.4f} "
                              f"< -{rules.quality_margin}"), quality
    if errors.low > rules.max_error_rate:
        return out("dropped", f"error rate lower bound {errors.low:.4f} > max_error_rate {rules.max_error_rate}"), quality
    slow = [b for b in (routed.blocked_by if routed else ()) if b.startswith("latency_p95_ms")]
    if slow and quality.n >= rules.min_samples:
        return out("dropped", slow[0]), quality
    if low is not None and low >= -rules.quality_margin and routed is not None and routed.eligible:
        return out("good enough", f"always-valid lower bound {low:+.4f} >= -{rules.quality_margin}; every "
                                  f"guardrail passes"), quality
    return out("undecided", f"{quality.n} scored; interval [{low if low is None else round(low, 4)}, "
                            f"{high if high is None else round(high, 4)}]"), quality


def _no_share(rules: Guardrails, requests_per_hour: float) -> str:
    """Why the allocation can spare no traffic for a task (the caps of `llmopt.evaluate.allocation`)."""
    m = rules.exploration_max_share
    if m <= 0:
        return "exploration_max_share is 0"
    if share_cap(m, requests_per_hour) <= 0:
        return (f"the task's {requests_per_hour:.0f} requests/hour leave no share under exploration_max_share {m:g} "
                f"once its safety headroom is kept (that needs more than {Z_CAP ** 2 * (1 - m) / m:.0f}/hour)")
    return "exploration_quality_loss_budget is 0"


def evaluate_task(ev: RoutingEvaluation, inputs: EvaluationInputs) -> ExplorationEvaluation:
    """The exploration call on one task (see the module's docstring)."""
    rules = inputs.settings.policy.for_service(ev.service)
    now, cap = inputs.window.end, inputs.settings.policy.exploration_max_candidates
    base = dict(service=ev.service, task_type=ev.task_type, serving_model=ev.current_model,
                serving_provider=ev.current.provider)
    running = running_exploration(inputs.latest, ev.service, ev.task_type)
    if running is None and (ev.recommended is not None or ev.verdict.startswith("held")):
        return ExplorationEvaluation(**base, action="none", reason=f"routing: {ev.verdict}")
    if running is None:
        last = _last_start(inputs.latest, ev.service, ev.task_type)
        cooldown = timedelta(hours=inputs.settings.policy.exploration_cooldown_hours)
        if last is not None and now - last < cooldown:
            return ExplorationEvaluation(**base, action="none",
                                         reason=f"cooldown until {(last + cooldown).isoformat()}: the last "
                                                f"exploration began {last.isoformat()} (exploration_cooldown_hours "
                                                f"{inputs.settings.policy.exploration_cooldown_hours:g})")
        found = candidate_pool(ev, inputs, rules, cap)
        if not found.entries:
            return ExplorationEvaluation(**base, action="none", reason=found.why_none)
        pool = [(e.model, e.provider, e.savings_usd_per_day, e.source) for e in found.entries]
    else:
        mix, completion = task_mix(ev, inputs)
        floor = max(rules.min_savings_usd_per_day, 0.0)
        saved = {v["model"]: (savings_of(ev, inputs, v["model"], mix, completion) or ("", 0.0))[1]
                 for v in running["variants"]}
        pool = [(v["model"], v["provider"], saved[v["model"]] if saved[v["model"]] > floor else 0.0, "running")
                for v in running["variants"] if v["name"] != SERVING]
    cells = _task_cells(ev, inputs)
    judged = [_judge(ev, m, p, s, source, cells, rules) for m, p, s, source in pool]
    live = [(c, q) for c, q in judged if c.status != "dropped"]
    candidates = tuple(c for c, _ in judged)
    if running is None:
        undecided = sorted([(c, q) for c, q in live if c.status == "undecided"],
                           key=lambda cq: -cq[0].savings_usd_per_day)
        live = undecided[:cap]
        if not live:
            answers = "; ".join(f"{c.model} {c.status}: {c.reason}" for c in candidates)
            return ExplorationEvaluation(**base, action="none", candidates=candidates,
                                         reason=f"every cheaper candidate already has its answer ({answers})")
    started = running["started_at"] if running else now.isoformat()
    exp_id = running["id"] if running else f"explore-{ev.task_type}-{now:%Y%m%d%H}"
    hours = (now - utc(datetime.fromisoformat(started))) / timedelta(hours=1)
    state = dict(base, experiment_id=exp_id, started_at=started, hours=hours, candidates=candidates)
    if running is not None:
        winners = sorted((c for c, _ in live if c.status == "good enough"), key=lambda c: -c.savings_usd_per_day)
        cheaper_open = winners and any(c.status == "undecided" and c.savings_usd_per_day > winners[0].savings_usd_per_day
                                       for c, _ in live)
        if winners and (not cheaper_open or hours >= rules.exploration_max_hours):
            return ExplorationEvaluation(**state, action="conclude", winner=winners[0].model,
                                         reason=f"{winners[0].model} is good enough: {winners[0].reason}")
        if not live:
            return ExplorationEvaluation(**state, action="stop", reason="every candidate is dropped")
        if hours >= rules.exploration_max_hours:
            return ExplorationEvaluation(**state, action="stop", reason=f"no decision after {hours:.0f} h "
                                         f"(exploration_max_hours {rules.exploration_max_hours:g})")
    serving_q = quality_stats(cells, ev.current_model)
    scored_per_hour = serving_q.n / max(ev.window_hours, 1e-9)
    seed = int.from_bytes(hashlib.sha256(f"{exp_id}:{now.isoformat()}".encode()).digest()[:4], "big")
    requests_per_hour = ev.task_requests / max(ev.window_hours, 1e-9)
    shares, sizing = allocate([Arm(c.model, c.savings_usd_per_day, q) for c, q in live], serving_q,
                              rules.quality_margin, rules.confidence, scored_per_hour, rules.exploration_max_share,
                              rules.exploration_quality_loss_budget, seed, requests_per_hour)
    if running is None:
        if sum(shares.values()) <= 0:
            return ExplorationEvaluation(**base, action="none", candidates=candidates, sizing=sizing,
                                         reason=f"cap reached: {_no_share(rules, requests_per_hour)}")
        proposed = sum(c.source == "proposed" for c, _ in live)
        extra = (f" ({proposed} proposed from the price map)" if proposed else "") + (
            f"; {len(undecided) - cap} more beyond exploration_max_candidates {cap}" if len(undecided) > cap else "")
        return ExplorationEvaluation(**state, action="start", shares=shares, sizing=sizing,
                                     reason=f"{len(live)} cheaper candidate(s) lack evidence: "
                                            f"{', '.join(c.model for c, _ in live)}{extra}")
    published = {v["model"]: v["weight"] for v in running["variants"] if v["name"] != SERVING}
    moved = set(published) != set(shares) or any(abs(published[m] - s) > REALLOCATE_TOLERANCE for m, s in shares.items())
    return ExplorationEvaluation(**state, action="reallocate" if moved else "continue", shares=shares, sizing=sizing,
                                 reason=f"{len(live)} candidate(s) still undecided")


def evaluate_exploration(inputs: EvaluationInputs) -> list[ExplorationEvaluation]:
    """The exploration call on every task the routing step evaluated."""
    return [evaluate_task(ev, inputs) for ev in inputs.routing]


def _running_entry(ev: ExplorationEvaluation) -> dict:
    variants = [{"name": SERVING, "weight": round(1 - sum(ev.shares.values()), 6), "model": ev.serving_model,
                 "provider": ev.serving_provider}]
    by_model = {c.model: c for c in ev.candidates}
    variants += [{"name": m, "weight": round(s, 6), "model": m, "provider": by_model[m].provider}
                 for m, s in sorted(ev.shares.items()) if round(s, 6) > 0]
    return {"id": ev.experiment_id, "task_type": ev.task_type, "salt": ev.experiment_id, "control": SERVING,
            "variants": variants, "status": "running", "call": None, "origin": "exploration", "started_at": ev.started_at}


def exploration_changes(evaluations: list[ExplorationEvaluation], routing: list[RoutingEvaluation],
                        latest: LatestConfigs, settings, now: datetime) -> list[Change]:
    """A change per start, re-allocation, stop and conclusion (its `to.exploration` is the entry to publish);
    a conclusion also yields the routing switch to its winner."""
    changes = []
    by_task = {(r.service, r.task_type): r for r in routing}
    for ev in evaluations:
        if ev.action in ("none", "continue"):
            continue
        running = running_exploration(latest, ev.service, ev.task_type)
        if ev.action in ("start", "reallocate"):
            entry = _running_entry(ev)
        else:
            label = f"switch to {ev.winner}" if ev.winner else f"stop: {ev.reason}"
            entry = {**running, "status": "concluded", "call": label}
        evidence = {"exploration": ev.action, "reason": ev.reason, "experiment_id": ev.experiment_id,
                    "hours": round(ev.hours, 3), "shares": ev.shares, "sizing": ev.sizing,
                    "candidates": [asdict(c) for c in ev.candidates]}
        serving = {"model": ev.serving_model, "provider": ev.serving_provider}
        changes.append(Change(ev.service, ev.task_type, Strategy.EXPLORATION, serving["model"], serving["provider"],
                              serving["model"], serving["provider"], 0.0, evidence,
                              **policy_decision(settings.policy, ev.service, now), to_settings={"exploration": entry}))
        if ev.winner:
            routed = by_task[(ev.service, ev.task_type)]
            pick = next(c for c in routed.candidates if c.model == ev.winner)
            switch = decide_routing([replace(routed, recommended=pick, verdict=f"switch after exploration: {ev.reason}")],
                                    settings.policy, now)
            changes += [replace(c, evidence={**c.evidence, "exploration": evidence}) for c in switch]
    return changes


def exploration_block(latest: LatestConfigs, changes: list[Change], others: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Per service touched by an approved exploration change: its next `experiments` list (the user's entries as
    `others` gives them, else as published; explorations as published, updated by this run's changes)."""
    approved = [c for c in changes if c.strategy == Strategy.EXPLORATION and c.state == "approved"]
    out = {}
    for service in sorted({c.service for c in approved}):
        config = latest.get(service)
        published = [e.model_dump(mode="json") for e in (config.experiments if config else [])]
        user = others.get(service, [e for e in published if e.get("origin") != "exploration"])
        explored = {e["id"]: e for e in published if e.get("origin") == "exploration"}
        for c in approved:
            if c.service == service:
                entry = c.to_settings["exploration"]
                explored[entry["id"]] = entry
        out[service] = sorted(user, key=lambda e: e["id"]) + sorted(explored.values(), key=lambda e: e["id"])
    return out


STRATEGY = register(StrategySpec(
    Strategy.EXPLORATION, Scope.EXPERIMENTS, precedence=0,
    guardrails=("exploration_max_share", "exploration_quality_loss_budget", "exploration_max_hours",
                "exploration_candidates", "exploration_max_candidates", "exploration_cooldown_hours",
                "quality_margin", "max_error_rate", "latency_p95_ms", "min_samples", "confidence", "approval"),
    evaluate=evaluate_exploration,
    decide=lambda evs, d: exploration_changes(evs, d.routing, d.latest, d.settings, d.now)))
