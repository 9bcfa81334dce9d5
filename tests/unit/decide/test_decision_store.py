"""The decision store on SQLite: proposals, allowed transitions, the audit trail, one engine per database."""

from datetime import datetime, timezone

import pytest

from llmopt.decide.decision_store import DecisionStateError
from llmopt.decide.lifecycle import record_decisions
from llmopt.domain import Change, DecisionState
from llmopt.resources import open_resources
from llmopt.settings import Settings

NOW = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)


@pytest.fixture
def res(tmp_path):
    return open_resources(Settings(database_url=f"sqlite:///{tmp_path}/r.db"))


def change(state: str = "pending") -> Change:
    return Change("svc", "t", "routing", "big", "openai", "cheap", "openai", 3.5, {"why": 1}, state, "x", NOW.isoformat())


def test_lifecycle_transitions_and_audit_trail(res):
    store = res.decision_store
    [approved] = record_decisions(res, [change("approved")], "run 1")
    d = store.get(approved.decision_id)
    assert (d.state, d.from_route, d.to_route, d.expected_savings_usd_per_day) == (
        DecisionState.APPROVED, {"model": "big", "provider": "openai"}, {"model": "cheap", "provider": "openai"}, 3.5)
    store.transition(d.id, "published", "publisher", config_version=4)
    store.transition(d.id, "monitoring", "publisher", config_version=4)
    with pytest.raises(DecisionStateError, match="cannot become approved"):
        store.transition(d.id, "approved", "someone")
    assert [(e["from_state"], e["to_state"]) for e in store.history(d.id)] == [
        (None, "proposed"), ("proposed", "approved"), ("approved", "published"), ("published", "monitoring")]
    assert store.get(d.id).config_version == 4
    assert [x.id for x in store.list(state="monitoring")] == [d.id]
    with pytest.raises(DecisionStateError, match="does not exist"):
        store.get(999)


def test_resources_are_built_once_per_settings(res, tmp_path):
    again = open_resources(Settings(database_url=f"sqlite:///{tmp_path}/r.db"))
    assert again is res
    assert res.decision_store.engine is res.request_log.engine          # one engine per database
    assert res.prices is open_resources(Settings(database_url="sqlite:///other.db")).prices
