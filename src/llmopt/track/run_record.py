"""What one run leaves in MLflow: parameters, metrics, artifacts, the fitted models, tags."""

from __future__ import annotations

import pandas as pd

from llmopt.domain import redact_url
from llmopt.domain import ChangeState, ConfigKeys, Window
from llmopt.evaluate.routing import RoutingEvaluation
from llmopt.fit import FittedModels
from llmopt.publish.publishing import PublishOutcome
from llmopt.settings import Settings
from llmopt.track.report import markdown_report, plot_cost_vs_quality, plot_latency_by_model, plot_spend_forecast
from llmopt.track.report_html import html_report
from llmopt.track.shares import plot_share_history
from llmopt.track.summary import RunSummary
from llmopt.track.tracker import MlflowTracker
from llmopt.rollup.pool import PooledEvidence

LATENCY_PLOT_ROWS = 20_000


def run_params(settings: Settings, window: Window, dry_run: bool) -> dict:
    """Every setting that shapes the run's decisions and what it publishes."""
    return {"window_start": window.start.isoformat(), "window_end": window.end.isoformat(),
            "dry_run": dry_run, "requests_table": settings.requests_table,
            "config_store_uri": redact_url(settings.config_store_uri),
            "requests_path": settings.requests_path and redact_url(settings.requests_path),
            "rollups_dir": redact_url(str(settings.rollups_dir)), "partition_minutes": settings.partition_minutes,
            "partition_max_rows": settings.partition_max_rows, "rollup_sample_rows": settings.rollup_sample_rows,
            "pooled_sample_rows": settings.pooled_sample_rows,
            "strategies": list(settings.strategies), "exports": list(settings.exports),
            "gateway_providers": settings.gateway_providers, "fit_sample_rows": settings.fit_sample_rows,
            "reserved_output_providers": list(settings.reserved_output_providers),
            "budget_history_days": settings.budget_history_days, "prices": str(settings.prices_path),
            "experiments": [e.id for e in settings.experiments],
            "policy": settings.policy.model_dump(exclude={"services"}),
            "policy_services": settings.policy.model_dump()["services"]}


def model_input_example(model, valid: pd.DataFrame, rows: int = 5) -> pd.DataFrame:
    """A few rows of what a grouped model reads (its group and feature columns), plain dtypes for MLflow."""
    columns = [*model.group_columns, *model.feature_columns]
    ok = valid.loc[valid["status"] == "ok", columns].head(rows)
    return ok.astype({c: "float64" for c in model.feature_columns}).astype({c: object for c in model.group_columns})


def record_run(tracker: MlflowTracker, run_id: str, summary: RunSummary, validation: PooledEvidence,
               models: FittedModels, evaluations: list[RoutingEvaluation], outcome: PublishOutcome,
               budgets: list | None = None, shares: pd.DataFrame | None = None) -> None:
    """Log metrics, the recommendations, validation results, configs, report, plots and models.

    Args:
        shares: configured traffic shares per task and version (`llmopt.track.shares.share_history`): plotted
            for tasks whose traffic was split (exploration, canary) or moved.
    """
    metrics = {"rows_read": validation.rows_read, "rows_quarantined": validation.rows_quarantined,
               "bad_row_share": validation.bad_row_share, "rows_pooled": validation.rows_pooled,
               "lookback_hours": validation.lookback_hours, "partitions_read": validation.partitions - validation.reused,
               "partitions_reused": validation.reused, "drift_findings": len(validation.drift),
               "partitions_excluded": len(validation.excluded),
               "recommendations": sum(1 for e in evaluations if e.recommended),
               "changes_approved": sum(1 for c in summary.changes if c.state == ChangeState.APPROVED),
               "changes_pending": sum(1 for c in summary.changes if c.state == ChangeState.PENDING),
               "configs_published": len(outcome.published),
               "exploration_steps": sum(1 for c in summary.changes if c.strategy == "exploration"),
               "canary_steps": sum(1 for c in summary.changes if c.strategy == "canary"),
               "expected_savings_usd_per_day": summary.expected_savings_usd_per_day,
               **{f"fit.{k}": v for k, v in models.scores.items()}}
    tracker.log_metrics(run_id, metrics)
    tracker.log_json(run_id, [e.to_dict() for e in evaluations], "recommendations.json")
    tracker.log_json(run_id, {"rows_read": validation.rows_read, "rows_quarantined": validation.rows_quarantined,
                              "reasons": validation.reasons, "expectations": validation.expectation_results,
                              "excluded_partitions": dict(validation.excluded)},
                     "validation/results.json")
    tracker.log_json(run_id, summary.to_dict(), "summary.json")
    for config in outcome.configs:
        tracker.log_json(run_id, config.to_dict(), "configs/" + ConfigKeys.version(config.service, config.version))
    facts = {"window": f"{summary.window.start} → {summary.window.end}",
             "rows": f"{validation.rows_read} read, {validation.rows_quarantined} quarantined",
             "pooled": f"{validation.rows_pooled:,} requests over {validation.lookback_hours:g} h "
                       f"({validation.partitions} partitions, {validation.reused} rollups reused)",
             "status": summary.status,
             "published": ", ".join(f"{p.service} v{p.version}" for p in summary.published) or "nothing",
             "expected savings": f"${summary.expected_savings_usd_per_day:.2f}/day"}
    tracker.log_text(run_id, markdown_report("llmopt run report", facts, evaluations), "report/report.md")
    ok = validation.valid.loc[validation.valid["status"] == "ok", ["model", "latency_ms"]]
    sample = ok.sample(n=min(len(ok), LATENCY_PLOT_ROWS), random_state=0) if len(ok) else ok
    images = {"cost_vs_quality.png": plot_cost_vs_quality(evaluations),
              "latency_by_model.png": plot_latency_by_model(sample)}
    if budgets:
        images["spend_forecast.png"] = plot_spend_forecast(budgets)
    history_plot = plot_share_history(shares) if shares is not None else None
    if history_plot:
        images["traffic_shares.png"] = history_plot
    tracker.log_files(run_id, images, "report")
    sections = {"Routing calls": summary.recommendations, "Experiments": summary.experiments,
                "Reliability": summary.reliability, "Budget": summary.budget,
                "Changes": [c.to_dict() for c in summary.changes],
                "Exploration and ramps": [{"service": c.service, "task_type": c.task_type, "change": c.change,
                                           "evidence": c.evidence, "state": str(c.state)}
                                          for c in summary.changes if c.strategy in ("exploration", "canary")
                                          or c.change.startswith("canary")],
                "Quarantine reasons": [{"reason": r, "rows": n} for r, n in (validation.reasons or {}).items()]}
    tracker.log_text(run_id, html_report("llmopt run report", facts, sections, evaluations, images), "report/report.html")
    fitted = {"latency_p50": models.latency_p50, "latency_p95": models.latency_p95,
              "completion_tokens": models.completion_tokens}
    tracker.log_models(run_id, fitted, {name: model_input_example(m, validation.valid) for name, m in fitted.items()})
    tracker.set_tags(run_id, {"llmopt.status": summary.status,
                              "llmopt.config_versions": ",".join(f"{p.service}:v{p.version}"
                                                                  for p in summary.published) or "none"})


