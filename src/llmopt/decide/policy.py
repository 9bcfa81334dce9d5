"""The approval rule every strategy shares: the service's approval mode decides a change's state."""

from __future__ import annotations

from datetime import datetime

from llmopt.domain import ChangeState
from llmopt.settings import Policy


def policy_decision(policy: Policy, service: str, now: datetime) -> dict:
    """`state`, `decided_by`, `decided_at` of a change that the service's approval mode alone decides."""
    auto = policy.for_service(service).approval == "auto"
    return {"state": ChangeState.APPROVED if auto else ChangeState.PENDING,
            "decided_by": "policy:auto" if auto else "awaiting manual approval", "decided_at": now.isoformat()}
