"""Decide: turn recommendations into approved or pending changes, as the policy says."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from llmopt.routing import RoutingEvaluation
from llmopt.settings import Policy


@dataclass(frozen=True)
class Change:
    """A proposed configuration change with its evidence and decision.

    `state` is `approved` (publishable) or `pending` (waits for a person; nothing is published).
    """

    service: str
    task_type: str
    strategy: str
    from_model: str
    from_provider: str
    to_model: str
    to_provider: str
    expected_savings_usd_per_day: float
    evidence: dict
    state: str
    decided_by: str
    decided_at: str
    decision_id: int | None = None
    from_settings: dict | None = None     # deployment settings (timeout_s, retries, fallbacks) for reliability
    to_settings: dict | None = None

    def to_config_entry(self) -> dict:
        """The change as it appears in a published config."""
        return {
            "strategy": self.strategy, "task_type": self.task_type,
            "from": {"model": self.from_model, "provider": self.from_provider, **(self.from_settings or {})},
            "to": {"model": self.to_model, "provider": self.to_provider, **(self.to_settings or {})},
            "expected_savings_usd_per_day": round(self.expected_savings_usd_per_day, 6),
            "evidence": self.evidence,
            "decision": {"state": self.state, "by": self.decided_by, "at": self.decided_at, "id": self.decision_id},
        }

    def to_dict(self) -> dict:
        return asdict(self)


def policy_decision(policy: Policy, service: str, now: datetime) -> dict:
    """`state`, `decided_by`, `decided_at` of a change that the service's approval mode alone decides."""
    auto = policy.for_service(service).approval == "auto"
    return {"state": "approved" if auto else "pending",
            "decided_by": "policy:auto" if auto else "awaiting manual approval", "decided_at": now.isoformat()}


def decide(evaluations: list[RoutingEvaluation], policy: Policy, now: datetime) -> list[Change]:
    """One change per recommendation: approved under `approval: auto`, pending under `manual`.

    A change on a task that carries more than `auto_approve_max_traffic_share` of its service's
    traffic is pending even under `auto`: a person confirms the large ones.

    Every recommendation already passed every guardrail in the evaluate step; the approval
    mode only says whether a person must confirm it.
    """
    changes = []
    service_requests: dict[str, int] = {}
    for ev in evaluations:
        service_requests[ev.service] = service_requests.get(ev.service, 0) + ev.task_requests
    for ev in evaluations:
        rec = ev.recommended
        if rec is None:
            continue
        rules = policy.for_service(ev.service)
        share = ev.task_requests / max(service_requests[ev.service], 1)
        auto = rules.approval == "auto" and share <= rules.auto_approve_max_traffic_share
        why = ("awaiting manual approval" if rules.approval == "manual" else
               f"awaiting manual approval: {share:.0%} of the service's traffic is above the auto-approve "
               f"limit {rules.auto_approve_max_traffic_share:.0%}")
        changes.append(Change(
            service=ev.service, task_type=ev.task_type, strategy="routing",
            from_model=ev.current_model, from_provider=ev.current.provider,
            to_model=rec.model, to_provider=rec.provider,
            expected_savings_usd_per_day=rec.expected_savings_usd_per_day,
            evidence={"current": asdict(ev.current), "recommended": asdict(rec),
                      "guardrails": rules.model_dump(), "task_requests": ev.task_requests,
                      "window_hours": ev.window_hours},
            state="approved" if auto else "pending",
            decided_by="policy:auto" if auto else why,
            decided_at=now.isoformat()))
    return changes
