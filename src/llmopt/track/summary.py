"""The run summary: what the CLI prints, `--json` emits and MLflow stores."""

from __future__ import annotations

from dataclasses import asdict

from llmopt.validate.contract import ValidationOutcome
from llmopt.domain import Change, Strategy, Window
from llmopt.experiments.analysis import ExperimentCall
from llmopt.experiments.reporting import call_rows
from llmopt.fit import FittedModels
from llmopt.publish.publishing import PublishOutcome
from llmopt.track.report import recommendation_rows
from llmopt.evaluate.routing import RoutingEvaluation


def run_status(changes: list[Change], outcome: PublishOutcome, dry_run: bool) -> str:
    if outcome.published:
        return "published"
    if dry_run and outcome.configs:
        return "dry run"
    if any(c.state == "pending" for c in changes):
        return "pending approval"
    return "no change"


def build_summary(window: Window, validation: ValidationOutcome, models: FittedModels,
                  evaluations: list[RoutingEvaluation], changes: list[Change], outcome: PublishOutcome,
                  ids: dict[str, str | None], dry_run: bool, calls: list[ExperimentCall] = (),
                  strategy_evaluations: list = (), budgets: list = ()) -> dict:
    """Everything a person or a script needs to know about one run."""
    reliability = [r for e in strategy_evaluations if e.strategy == Strategy.RELIABILITY for r in e.evaluations]
    return {
        "status": run_status(changes, outcome, dry_run),
        "window": {"start": window.start.isoformat(), "end": window.end.isoformat()},
        "rows_read": validation.rows_read,
        "rows_quarantined": validation.rows_quarantined,
        "quarantine_reasons": validation.reasons,
        "fit_scores": models.scores,
        "recommendations": recommendation_rows(evaluations),
        "experiments": call_rows(list(calls)),
        "reliability": [{"service": r.service, "provider": r.provider, "model": r.model, "requests": r.requests,
                         "failure_rate": round(r.failure_rate.estimate, 4),
                         "rate_limited_share": round(r.rate_limited_share, 4), **r.settings(),
                         "verdict": r.verdict} for r in reliability],
        "budget": [{k: v for k, v in b.to_dict().items() if not k.startswith("hourly_")} for b in budgets],
        "changes": [{"service": c.service, "task_type": c.task_type, "strategy": str(c.strategy),
                     "from": c.from_model, "to": c.to_model,
                     "expected_savings_usd_per_day": round(c.expected_savings_usd_per_day, 2),
                     "state": str(c.state), "decided_by": c.decided_by} for c in changes],
        "published": [asdict(p) for p in outcome.published],
        "not_published": outcome.skipped,
        "expected_savings_usd_per_day": round(sum(c.expected_savings_usd_per_day for c in changes
                                                  if c.state == "approved"), 2),
        **ids,
    }


def no_traffic_summary(window: Window, ids: dict[str, str | None]) -> dict:
    return {"status": "no traffic", "message": "no traffic, nothing to do",
            "window": {"start": window.start.isoformat(), "end": window.end.isoformat()},
            "rows_read": 0, "rows_quarantined": 0, "recommendations": [], "experiments": [], "changes": [],
            "published": [],
            **ids}


def format_summary(summary: dict) -> str:
    """A human-readable block for the terminal."""
    w = summary["window"]
    lines = [f"window        {w['start']} → {w['end']}",
             f"status        {summary['status']}" + (f": {summary['message']}" if summary.get("message") else ""),
             f"rows          {summary['rows_read']} read, {summary['rows_quarantined']} quarantined"]
    for reason, n in (summary.get("quarantine_reasons") or {}).items():
        lines.append(f"                quarantined ×{n}: {reason}")
    if summary["recommendations"]:
        lines.append("routing calls")
        for r in summary["recommendations"]:
            extra = (f"  Δquality CI {r['quality_diff_ci']}, scored {r['scored_current/candidate']}, "
                     f"error≤{r['error_rate_upper']}, p95≈{r['predicted_p95_ms']} ms") if r["recommended_model"] else ""
            lines.append(f"  {r['service']}/{r['task_type']}: {r['verdict']}{extra}")
    for e in summary.get("experiments") or []:
        needed = f", ~{e['hours_still_needed']} h more" if e.get("hours_still_needed") else ""
        lines.append(f"experiment    {e['experiment']} ({e['service']}/{e['task_type']}, {e['hours_run']} h, "
                     f"units {e['units']}): {e['call']}{needed} — {e['reason']}")
    for b in summary.get("budget") or []:
        lines.append(f"budget        {b['service']}: {b['verdict']}")
    for r in summary.get("reliability") or []:
        lines.append(f"reliability   {r['service']} {r['provider']}/{r['model']}: {r['verdict']}")
    for c in summary["changes"]:
        lines.append(f"change        {c['service']}/{c['task_type']} {c['from']} → {c['to']} "
                     f"(${c['expected_savings_usd_per_day']}/day): {c['state']} by {c['decided_by']}")
    for p in summary["published"]:
        lines.append(f"published     {p['service']} v{p['version']} at {p['location']}")
    for svc, why in (summary.get("not_published") or {}).items():
        lines.append(f"not published {svc}: {why}")
    lines.append(f"mlflow run    {summary.get('mlflow_run_id')}")
    if summary.get("prefect_flow_run_id"):
        lines.append(f"prefect run   {summary['prefect_flow_run_id']}")
    return "\n".join(lines)


def experiment_summary(window: Window, calls: list[ExperimentCall], changes: list[Change], outcome: PublishOutcome,
                       ids: dict[str, str | None], dry_run: bool) -> dict:
    """The summary of an `experiment-analysis` run."""
    return {"status": run_status(changes, outcome, dry_run), "analysed_until": window.end.isoformat(),
            "experiments": call_rows(calls),
            "changes": [{"service": c.service, "task_type": c.task_type, "strategy": str(c.strategy),
                         "from": c.from_model, "to": c.to_model, "state": c.state} for c in changes],
            "published": [asdict(p) for p in outcome.published], "not_published": outcome.skipped, **ids}
