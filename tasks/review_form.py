"""The typed approve/reject form the Prefect UI shows while a run waits for review."""

from typing import Literal

from prefect.input import RunInput
from pydantic import Field, create_model

from llmopt.domain import Change


def review_form(pending: list[Change]) -> type[RunInput]:
    """A RunInput with one approve/reject field per pending decision, plus reviewer and note."""
    fields = {
        f"decision_{c.decision_id}": (Literal["approve", "reject"], Field(
            title=f"#{c.decision_id} {c.service}/{c.task_type}: {c.from_model} → {c.to_model}",
            description=f"{c.strategy}; expected savings ${c.expected_savings_usd_per_day:.2f}/day; "
                        f"{c.decided_by}"))
        for c in pending}
    fields["reviewer"] = (str, Field(min_length=1, description="Your name, kept in the audit trail"))
    fields["note"] = (str, Field("", description="Why (optional)"))
    return create_model("DecisionReview", __base__=RunInput, **fields)
