"""Post-change monitoring: compare each published change's post-change window with its pre-change baseline.

Per decision in `monitoring`: quality of the task on the old model in [published − monitor_hours, published)
against the new model in [published, now). A regression (the drop is significant and beyond the
quality margin, or the error rate is significantly higher and above max_error_rate) publishes the
previous routes as a new version and marks the decision `rolled_back`; a clean observation period
marks it `confirmed`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone

from llmopt.domain import DecisionState
from llmopt.evaluate.registry import strategy
from llmopt.publish.rollback import rollback
from llmopt.resources import Resources
from llmopt.stats import EffectResult, proportions_ztest, welch_ttest


@dataclass(frozen=True)
class MonitorResult:
    """What the monitor found for one decision and what it did."""

    decision_id: int
    service: str
    task_type: str
    outcome: str               # rolled_back | confirmed | monitoring
    reason: str
    quality_change: EffectResult
    error_rate_change: EffectResult
    hours_observed: float
    rollback_version: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def published_at(res: Resources, decision_id: int) -> datetime:
    events = res.decision_store.history(decision_id)
    at = next(e["at"] for e in reversed(events) if e["to_state"] == "published")
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)   # SQLite returns naive UTC


def monitor_published_changes(res: Resources, now: datetime) -> list[MonitorResult]:
    """Check every decision in `monitoring`; roll back regressions, confirm the ones that held."""
    settings, store, statistics, price_map = res.settings, res.decision_store, res.statistics, res.prices
    results = []
    for d in store.list(state=DecisionState.MONITORING):
        rules = settings.policy.for_service(d.service)
        since = published_at(res, d.id)
        period = timedelta(hours=settings.policy.monitor_hours)
        if not strategy(d.strategy).monitored:      # deployment settings: no per-route before/after to compare
            if now >= since + period:
                store.transition(d.id, "confirmed", "policy:monitor", "observation period over (settings change)")
            outcome = "confirmed" if now >= since + period else "monitoring"
            no_metric = EffectResult.failed("not a route change", rules.confidence, False)
            results.append(MonitorResult(d.id, d.service, d.task_type, outcome, f"{d.strategy}: settings change",
                                         no_metric, no_metric, min(now - since, period) / timedelta(hours=1)))
            continue
        before = statistics.route_statistics(d.service, d.task_type, d.from_route["model"], since - period, since,
                                             price_map)
        after = statistics.route_statistics(d.service, d.task_type, d.to_route["model"], since, min(now, since + period),
                                            price_map)
        if not before.metrics or not after.metrics:
            results.append(MonitorResult(d.id, d.service, d.task_type, "monitoring",
                                         "no traffic yet on one side of the change",
                                         EffectResult.failed("no traffic", rules.confidence, False),
                                         EffectResult.failed("no traffic", rules.confidence, False),
                                         (now - since) / timedelta(hours=1)))
            continue
        quality = welch_ttest(before.metrics["quality"], after.metrics["quality"], confidence=rules.confidence)
        errors = proportions_ztest(before.metrics["error_rate"], after.metrics["error_rate"], confidence=rules.confidence)
        hours = min(now - since, period) / timedelta(hours=1)
        problems = []
        if quality.ok and quality.ci_high < 0 and quality.effect < -rules.quality_margin:
            problems.append(f"quality fell by {-quality.effect:.3f} (CI [{quality.ci_low:.3f}, {quality.ci_high:.3f}]),"
                            f" beyond the margin {rules.quality_margin}")
        if errors.ok and errors.ci_low > 0 and after.metrics["error_rate"].rate > rules.max_error_rate:
            problems.append(f"error rate rose to {after.metrics['error_rate'].rate:.3f} "
                            f"(above max_error_rate {rules.max_error_rate})")
        if problems:
            reason = "; ".join(problems)
            evidence = {"decision_id": d.id, "quality_change": asdict(quality), "error_rate_change": asdict(errors),
                        "hours_observed": hours}
            published = rollback(res, d.service, None, f"post-change monitor: {reason}", "policy:monitor", d,
                                 evidence)
            results.append(MonitorResult(d.id, d.service, d.task_type, "rolled_back", reason, quality, errors, hours,
                                         published.version))
        elif now >= since + period:
            store.transition(d.id, "confirmed", "policy:monitor", f"held for {settings.policy.monitor_hours:g} h")
            results.append(MonitorResult(d.id, d.service, d.task_type, "confirmed", "no regression over the period",
                                         quality, errors, hours))
        else:
            results.append(MonitorResult(d.id, d.service, d.task_type, "monitoring", "observation period not over",
                                         quality, errors, hours))
    return results
