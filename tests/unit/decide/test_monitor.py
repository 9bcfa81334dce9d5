"""The post-change monitor on SQLite: a regression beyond the margin rolls back as a new version; a held change
is confirmed after the observation period; a settings change is confirmed without a before/after test."""

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from llmopt.decide.lifecycle import record_decisions
from llmopt.decide.monitor import monitor_published_changes
from llmopt.domain import Change
from llmopt.extract.synthetic import generate_requests
from llmopt.publish.publishing import latest_config
from llmopt.publish.rollback import publish_routes
from llmopt.resources import open_resources
from llmopt.settings import Settings

PUBLISHED = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)


def traffic(model: str, quality: np.ndarray, start: datetime):
    n = len(quality)
    frame = generate_requests(n, hours=1, seed=5, end=start + timedelta(hours=1))
    frame["request_id"] = [f"{model}-{start:%H}-{i}" for i in range(n)]
    frame["service"], frame["task_type"], frame["model"], frame["provider"] = "svc", "t", model, "openai"
    frame["status"], frame["quality_score"] = "ok", quality
    return frame


@pytest.fixture
def setup(tmp_path):
    res = open_resources(Settings(database_url=f"sqlite:///{tmp_path}/r.db", config_store_uri=f"file://{tmp_path}/c",
                                  policy={"monitor_hours": 2, "quality_margin": 0.02}))
    res.request_log.ensure_tables()
    res.request_log.append(traffic("big", np.tile([0.8, 0.9], 300), PUBLISHED - timedelta(hours=1)))
    change = Change("svc", "t", "routing", "big", "openai", "cheap", "openai", 5.0, {}, "approved", "policy:auto",
                    PUBLISHED.isoformat())
    [change] = record_decisions(res, [change], "test")
    published = publish_routes(res, "svc", {"t": {"model": "cheap", "provider": "openai"}}, [], {})
    for state in ("published", "monitoring"):
        res.decision_store.transition(change.decision_id, state, "test", config_version=published.version,
                                      now=PUBLISHED)
    return res, change.decision_id


def test_a_quality_drop_beyond_the_margin_rolls_back_as_a_new_version(setup):
    res, decision_id = setup
    res.request_log.append(traffic("cheap", np.tile([0.7, 0.8], 300), PUBLISHED))     # mean 0.75 vs 0.85
    [result] = monitor_published_changes(res, PUBLISHED + timedelta(hours=1))
    assert result.outcome == "rolled_back" and result.rollback_version == 2
    assert result.quality_change.effect == pytest.approx(-0.10, abs=1e-9)
    assert result.hours_observed == pytest.approx(1.0)
    assert latest_config(res.config_store, "svc").routes["t"].model == "big"
    assert res.decision_store.get(decision_id).state == "rolled_back"


def test_a_change_that_held_is_confirmed_after_the_period(setup):
    res, decision_id = setup
    res.request_log.append(traffic("cheap", np.tile([0.8, 0.9], 300), PUBLISHED))
    [early] = monitor_published_changes(res, PUBLISHED + timedelta(hours=1))
    assert early.outcome == "monitoring" and early.quality_change.effect == pytest.approx(0.0, abs=1e-9)
    [done] = monitor_published_changes(res, PUBLISHED + timedelta(hours=2))
    assert done.outcome == "confirmed" and res.decision_store.get(decision_id).state == "confirmed"
    assert latest_config(res.config_store, "svc").version == 1


def test_settings_changes_are_not_compared_before_and_after(tmp_path):
    res = open_resources(Settings(database_url=f"sqlite:///{tmp_path}/r.db", policy={"monitor_hours": 1}))
    change = Change("svc", "*", "reliability", "big", "openai", "big", "openai", 0.0, {}, "approved", "policy:auto",
                    PUBLISHED.isoformat(), to_settings={"timeout_s": 5.0, "retries": 1, "fallbacks": []})
    [change] = record_decisions(res, [change], "test")
    for state in ("published", "monitoring"):
        res.decision_store.transition(change.decision_id, state, "test", config_version=1, now=PUBLISHED)
    [result] = monitor_published_changes(res, PUBLISHED + timedelta(hours=1))
    assert result.outcome == "confirmed" and result.reason == "reliability: settings change"
