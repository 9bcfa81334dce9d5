"""The run summary: typed while llmopt builds and reads it; JSON (`to_dict()`) for what a flow returns,
`llmopt run --json` prints and MLflow stores."""

from __future__ import annotations

from datetime import datetime

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from llmopt.domain import Change, ChangeState, Strategy, Window
from llmopt.evaluate.routing import RoutingEvaluation
from llmopt.experiments.analysis import ExperimentCall
from llmopt.experiments.reporting import call_rows
from llmopt.fit import FittedModels
from llmopt.publish.publishing import PublishedConfig, PublishOutcome
from llmopt.track.report import recommendation_rows
from llmopt.rollup.pool import PooledEvidence

RunStatus = Literal["published", "dry run", "pending approval", "no change", "no traffic", "window busy"]


class _Summary(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class WindowRange(_Summary):
    start: str
    end: str


def _seconds(value) -> str:
    return "unset" if value is None else f"{value:g} s"


def _targets(fallbacks) -> str:
    return ", ".join(f"{f['provider']}/{f['model']}" for f in fallbacks or []) or "none"


def describe_change(c: Change) -> str:
    """What a change does, in the words of the setting it moves (not just its model)."""
    old, new = c.from_settings or {}, c.to_settings or {}
    if c.strategy == Strategy.MAX_TOKENS:
        return f"max_tokens {old.get('max_tokens') or 'unset'} → {new['max_tokens']} on {c.to_model}"
    if c.strategy == Strategy.PROMPT_CACHING:
        return f"prompt caching on for {c.to_model} (TTL {new['prompt_caching']['ttl_s']:g} s)"
    if c.strategy == Strategy.RELIABILITY:
        parts = [f"timeout {_seconds(old.get('timeout_s'))} → {_seconds(new.get('timeout_s'))}",
                 f"retries {old.get('retries', 0)} → {new.get('retries', 0)}",
                 f"fallbacks {_targets(old.get('fallbacks'))} → {_targets(new.get('fallbacks'))}"]
        return f"{c.to_provider}/{c.to_model}: " + ", ".join(parts)
    if c.strategy == Strategy.EXPLORATION:
        entry = new["exploration"]
        split = ", ".join(f"{v['model']} {v['weight']:.1%}" for v in entry["variants"] if v["name"] != entry["control"])
        step = c.evidence.get("exploration", "")
        return (f"exploration {entry['id']} {step}: {split}" if entry["status"] == "running"
                else f"exploration {entry['id']} {step}: {entry['call']}")
    if "canary_weight" in new:
        return f"canary {c.to_model} at {new['canary_weight']:.0%} of the traffic (route stays {c.from_model})"
    if c.strategy == Strategy.CANARY:
        return (f"canary withdrawn: back to {c.to_model}" if c.evidence.get("ramp") == "withdraw"
                else f"canary {c.from_model} → {c.to_model} takes the whole route")
    if c.strategy == Strategy.CASCADE:
        rule = new["cascade"]
        return (f"cascade: {c.to_model} first, escalate to {rule['escalate_to']['model']} below confidence "
                f"{rule['min_confidence']:g}")
    return f"model {c.from_model} → {c.to_model}"


def _interval(i: dict | None, pct: bool = True) -> str:
    if not i:
        return "n/a"
    f = (lambda x: f"{x:.2%}") if pct else (lambda x: f"{x:+.4f}")
    return f"{f(i['estimate'])} [{f(i['low'])}, {f(i['high'])}]"


def describe_evidence(c: Change) -> str:
    """The evidence a reviewer checks first, in one line (the full evidence is in the config and MLflow)."""
    e = c.evidence or {}
    try:
        if c.strategy in (Strategy.EXPLORATION, Strategy.CANARY):
            return str(e.get("reason", ""))
        if c.strategy == Strategy.MAX_TOKENS:
            return (f"expected truncation {_interval(e.get('expected_truncation'))}; completion p99 "
                    f"{e['completion_p99']:.0f} tokens over {e['ok_requests']} successful requests")
        if c.strategy == Strategy.RELIABILITY:
            return (f"failure rate {_interval(e.get('failure_rate'))}, p99 latency {e['latency_p99_ms']:.0f} ms "
                    f"over {e['requests']} requests")
        if c.strategy == Strategy.PROMPT_CACHING:
            return (f"{e['cacheable_share']:.0%} of prompt tokens cacheable; "
                    f"{e['requests_with_hit']['estimate']:.0%} of requests hit")
        if c.strategy == Strategy.CASCADE:
            low, high = e["quality_difference"][1], e["quality_difference"][2]
            return (f"quality difference [{low:+.4f}, {high:+.4f}] on {e['pairs']} paired answers, "
                    f"escalates {e['escalation_rate']:.0%}")
        if c.strategy == Strategy.ROUTING:
            rec, cur = e["recommended"], e["current"]
            return (f"quality difference {_interval(rec.get('quality_difference'), pct=False)}, scored "
                    f"{cur['scored_requests']}/{rec['scored_requests']}, error rate ≤ {rec['error_rate']['high']:.2%}"
                    + (f"; {e['pooled']}" if e.get("pooled") else ""))
        if c.strategy == Strategy.EXPERIMENT:
            return f"experiment {e.get('experiment_id')}: {e.get('label') or e.get('call')}"
    except (KeyError, TypeError):
        pass
    return e.get("reason") or ""


class ChangeRow(_Summary):
    """One change of the run as people read it."""

    service: str
    task_type: str
    strategy: Strategy
    change: str
    evidence: str = ""
    from_model: str = Field(alias="from")
    to_model: str = Field(alias="to")
    expected_savings_usd_per_day: float
    state: ChangeState
    decided_by: str

    @classmethod
    def of(cls, c: Change) -> ChangeRow:
        return cls(service=c.service, task_type=c.task_type, strategy=c.strategy, change=describe_change(c),
                   evidence=describe_evidence(c),
                   from_model=c.from_model,
                   to_model=c.to_model, expected_savings_usd_per_day=round(c.expected_savings_usd_per_day, 2),
                   state=c.state, decided_by=c.decided_by)


class RunSummary(_Summary):
    """Everything a person or a script needs to know about one `hourly-optimization` run."""

    status: RunStatus
    window: WindowRange
    rows_read: int
    rows_quarantined: int
    message: str | None = None
    lookback: dict[str, Any] = Field(default_factory=dict)   # hours, partitions, rollups reused, rows pooled, drift
    quarantine_reasons: dict[str, int] = Field(default_factory=dict)
    fit_scores: dict[str, float] = Field(default_factory=dict)
    recommendations: list[dict[str, Any]] = Field(default_factory=list)
    experiments: list[dict[str, Any]] = Field(default_factory=list)
    reliability: list[dict[str, Any]] = Field(default_factory=list)
    budget: list[dict[str, Any]] = Field(default_factory=list)
    exploration: list[dict[str, Any]] = Field(default_factory=list)   # per task: the exploration's call and why
    changes: list[ChangeRow] = Field(default_factory=list)
    published: list[PublishedConfig] = Field(default_factory=list)
    not_published: dict[str, str] = Field(default_factory=dict)
    not_evaluated: dict[str, str] = Field(default_factory=dict)      # strategy → why it did not run
    expected_savings_usd_per_day: float = 0.0
    prefect_flow_run_id: str | None = None
    mlflow_run_id: str | None = None


class ExperimentRunSummary(_Summary):
    """What an `experiment-analysis` run did."""

    status: RunStatus
    analysed_until: str
    experiments: list[dict[str, Any]]
    changes: list[ChangeRow]
    published: list[PublishedConfig]
    not_published: dict[str, str]
    prefect_flow_run_id: str | None = None
    mlflow_run_id: str | None = None


def run_status(changes: list[Change], outcome: PublishOutcome, dry_run: bool) -> str:
    if outcome.published:
        return "published"
    if dry_run and outcome.configs:
        return "dry run"
    if any(c.state == ChangeState.PENDING for c in changes):
        return "pending approval"
    return "no change"


def build_summary(window: Window, validation: PooledEvidence, models: FittedModels,
                  evaluations: list[RoutingEvaluation], changes: list[Change], outcome: PublishOutcome,
                  ids: dict[str, str | None], dry_run: bool, calls: list[ExperimentCall] = (),
                  strategy_evaluations: list = (), budgets: list = ()) -> RunSummary:
    """Everything a person or a script needs to know about one run."""
    reliability = [r for e in strategy_evaluations if e.strategy == Strategy.RELIABILITY for r in e.evaluations]
    return RunSummary(
        status=run_status(changes, outcome, dry_run),
        window=WindowRange(start=window.start.isoformat(), end=window.end.isoformat()),
        rows_read=validation.rows_read, rows_quarantined=validation.rows_quarantined,
        quarantine_reasons=validation.reasons or {}, fit_scores=models.scores,
        lookback={"hours": validation.lookback_hours, "partitions": validation.partitions,
                  "rollups_reused": validation.reused, "rows_pooled": validation.rows_pooled,
                  "sample_rows": len(validation.sample), "drift": [str(d) for d in validation.drift],
                  "excluded": [f"{key}: {why}" for key, why in validation.excluded],
                  "workers": validation.workers, "flow_process": validation.planner,
                  "feedback": feedback_facts(validation, window),
                  "scored_per_cell": {f"{c.service}/{c.task_type}/{c.model}": int(c.scored)
                                      for c in validation.cells.itertuples()} if not validation.cells.empty else {},
                  "seconds": {k: round(v, 3) for k, v in validation.seconds.items()}},
        recommendations=recommendation_rows(evaluations), experiments=call_rows(list(calls)),
        reliability=[{"service": r.service, "provider": r.provider, "model": r.model, "requests": r.requests,
                      "failure_rate": round(r.failure_rate.estimate, 4),
                      "rate_limited_share": round(r.rate_limited_share, 4), **r.settings(),
                      "verdict": r.verdict} for r in reliability],
        budget=[{k: v for k, v in b.to_dict().items() if not k.startswith("hourly_")} for b in budgets],
        exploration=[{"service": x.service, "task_type": x.task_type, "action": x.action, "reason": x.reason,
                      "candidates": [c.model for c in x.candidates]}
                     for e in strategy_evaluations if e.strategy == Strategy.EXPLORATION for x in e.evaluations],
        changes=[ChangeRow.of(c) for c in changes], published=outcome.published, not_published=outcome.skipped,
        not_evaluated={e.strategy: e.not_evaluated for e in strategy_evaluations if getattr(e, "not_evaluated", None)},
        expected_savings_usd_per_day=round(sum(c.expected_savings_usd_per_day for c in changes
                                               if c.state == ChangeState.APPROVED), 2),
        **ids)


def feedback_facts(validation: PooledEvidence, window: Window) -> dict:
    """Late scores the run used: how many were joined and how old the newest is, in hours before the window's end."""
    facts = dict(getattr(validation, "feedback", {}) or {})
    if facts.get("newest_score"):
        newest = datetime.fromisoformat(facts["newest_score"])
        facts["newest_score_age_hours"] = round((window.end - newest).total_seconds() / 3600, 2)
    return facts


def no_traffic_summary(window: Window, ids: dict[str, str | None]) -> RunSummary:
    return RunSummary(status="no traffic", message="no traffic, nothing to do",
                      window=WindowRange(start=window.start.isoformat(), end=window.end.isoformat()),
                      rows_read=0, rows_quarantined=0, **ids)


def busy_summary(window: Window, ids: dict[str, str | None], why: str) -> RunSummary:
    """Another run holds this window: this one read, recorded and published nothing."""
    return RunSummary(status="window busy", message=f"{why}; this run did nothing (exit 0)",
                      window=WindowRange(start=window.start.isoformat(), end=window.end.isoformat()),
                      rows_read=0, rows_quarantined=0, **ids)


def format_summary(summary: RunSummary) -> str:
    """A human-readable block for the terminal."""
    w = summary.window
    lines = [f"window        {w.start} → {w.end}",
             f"status        {summary.status}" + (f": {summary.message}" if summary.message else ""),
             f"rows          {summary.rows_read} read, {summary.rows_quarantined} quarantined"]
    if summary.lookback:
        lb = summary.lookback
        lines.append(f"lookback      {lb['rows_pooled']:,} requests pooled over {lb['hours']:g} h "
                     f"({lb['partitions']} partitions, {lb['rollups_reused']} rollups reused)")
        lines += [f"                {d}" for d in lb.get("drift", [])]
        if (fb := lb.get("feedback") or {}).get("scores_joined"):
            lines.append(f"                late scores joined: {fb['scores_joined']:,} (newest given "
                         f"{fb['newest_score']}, {fb.get('newest_score_age_hours', 0):g} h before the window's end)")
        if lb.get("workers"):
            lines.append(f"                partitions read in {', '.join(lb['workers'])} (flow in {lb['flow_process']})")
        lines += [f"                excluded from the evidence (contract breach; mend the rows and it is read "
                  f"again): {x}" for x in lb.get("excluded", [])]
    for reason, n in summary.quarantine_reasons.items():
        lines.append(f"                quarantined ×{n}: {reason}")
    if summary.recommendations:
        lines.append("routing calls")
        for r in summary.recommendations:
            extra = (f"  Δquality CI {r['quality_diff_ci']}, scored {r['scored_current/candidate']}, "
                     f"error≤{r['error_rate_upper']}, p95≈{r['predicted_p95_ms']} ms") if r["recommended_model"] else ""
            lines.append(f"  {r['service']}/{r['task_type']}: {r['verdict']}{extra}")
    for x in summary.exploration:
        lines.append(f"exploration   {x['service']}/{x['task_type']}: {x['action']}: {x['reason']}")
    for e in summary.experiments:
        needed = f", ~{e['hours_still_needed']} h more" if e.get("hours_still_needed") else ""
        lines.append(f"experiment    {e['experiment']} ({e['service']}/{e['task_type']}, {e['hours_run']} h, "
                     f"units {e['units']}): {e['call']}{needed} — {e['reason']}")
    for b in summary.budget:
        lines.append(f"budget        {b['service']}: {b['verdict']}")
    for r in summary.reliability:
        lines.append(f"reliability   {r['service']} {r['provider']}/{r['model']}: {r['verdict']}")
    for name, why in summary.not_evaluated.items():
        lines.append(f"not evaluated {name}: {why}")
    for c in summary.changes:
        lines.append(f"change        {c.service}/{c.task_type} [{c.strategy}] {c.change} "
                     f"(${c.expected_savings_usd_per_day}/day): {c.state} by {c.decided_by}")
    for p in summary.published:
        lines.append(f"published     {p.service} v{p.version} at {p.location}")
    for svc, why in summary.not_published.items():
        lines.append(f"not published {svc}: {why}")
    lines.append(f"mlflow run    {summary.mlflow_run_id}")
    if summary.prefect_flow_run_id:
        lines.append(f"prefect run   {summary.prefect_flow_run_id}")
    return "\n".join(lines)


def experiment_summary(window: Window, calls: list[ExperimentCall], changes: list[Change], outcome: PublishOutcome,
                       ids: dict[str, str | None], dry_run: bool) -> ExperimentRunSummary:
    """The summary of an `experiment-analysis` run."""
    return ExperimentRunSummary(status=run_status(changes, outcome, dry_run), analysed_until=window.end.isoformat(),
                                experiments=call_rows(calls), changes=[ChangeRow.of(c) for c in changes],
                                published=outcome.published, not_published=outcome.skipped, **ids)
