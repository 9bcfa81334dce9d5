"""Scores that arrive later, in a feedback table or files: joined at rollup time, a late one re-rolls its hour,
one after `feedback_delay_hours` is not used, and nothing is counted twice."""

import json
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from sqlalchemy import insert

from llmopt.domain import Window
from llmopt.extract.feedback import FeedbackLog
from llmopt.extract.synthetic import generate_requests
from llmopt.resources import open_resources
from llmopt.rollup.lookback import plan_lookback, read_rollups, rollup_partition

END = datetime(2026, 11, 20, 11, tzinfo=timezone.utc)
WINDOW = Window(END - timedelta(hours=1), END)


@pytest.fixture
def unscored(write_settings, prices):
    """400 requests of one hour, none scored in the request rows (scores come later, apart)."""
    frame = generate_requests(400, hours=1, seed=5, end=END, prices=prices).assign(quality_score=float("nan"))
    return frame


def scored(rollup) -> tuple[int, float]:
    return int(rollup.cells["scored"].sum()), float(rollup.cells["quality_sum"].sum())


def test_a_late_score_re_rolls_its_hour_and_counts_once(write_settings, unscored):
    _, settings = write_settings(feedback={"table": "llm_feedback", "name": "helpfulness"}, policy={"lookback_hours": 1})
    res = open_resources(settings)
    res.request_log.append(unscored)
    table = FeedbackLog.create_table(res.engine, "llm_feedback")
    first = plan_lookback(res, WINDOW)
    ids = unscored["request_id"].tolist()
    with res.engine.begin() as conn:      # two scores given 3 h later (one twice: the latest counts), one wrong name
        conn.execute(insert(table), [
            {"request_id": ids[0], "name": "helpfulness", "value": 0.2, "ts": END + timedelta(hours=2)},
            {"request_id": ids[0], "name": "helpfulness", "value": 0.8, "ts": END + timedelta(hours=3)},
            {"request_id": ids[1], "name": "helpfulness", "value": 0.5, "ts": END + timedelta(hours=3)},
            {"request_id": ids[2], "name": "toxicity", "value": 0.9, "ts": END + timedelta(hours=3)},
            {"request_id": "unknown-id", "name": "helpfulness", "value": 1.0, "ts": END}])
    second = plan_lookback(res, WINDOW)
    assert first.fingerprints != second.fingerprints          # the hour's evidence changed: it is read again
    rollup = rollup_partition(res, second.partitions[0], second.fingerprints[0])
    assert scored(rollup) == (2, pytest.approx(0.8 + 0.5, abs=1e-12))
    assert rollup.feedback_scores == 2 and rollup.newest_score == (END + timedelta(hours=3)).isoformat()
    res.rollup_store.save(rollup)
    again = plan_lookback(res, WINDOW)          # nothing new: the stored rollup is reused as it is
    assert again.fingerprints == second.fingerprints


def test_a_score_after_the_delay_is_not_used(write_settings, unscored):
    _, settings = write_settings(feedback={"table": "llm_feedback"}, feedback_delay_hours=48)
    res = open_resources(settings)
    res.request_log.append(unscored)
    table = FeedbackLog.create_table(res.engine, "llm_feedback")
    before = plan_lookback(res, WINDOW).fingerprints
    with res.engine.begin() as conn:
        conn.execute(insert(table), [{"request_id": unscored["request_id"].iloc[0], "name": "q", "value": 0.7,
                                      "ts": END + timedelta(hours=49)}])
    assert plan_lookback(res, WINDOW).fingerprints == before
    rollup = rollup_partition(res, plan_lookback(res, WINDOW).partitions[-1], "fp")
    assert scored(rollup) == (0, 0.0)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_scores_in_files_join_as_from_a_table(write_settings, unscored, tmp_path, suffix):
    ids = unscored["request_id"].tolist()
    scores = pd.DataFrame({"request_id": ids[:3], "name": ["helpfulness"] * 3, "value": [1.0, 0.0, 0.25],
                           "ts": [(END + timedelta(hours=1)).isoformat()] * 3})
    folder = tmp_path / "feedback"
    folder.mkdir()
    if suffix == ".jsonl":
        (folder / "day.jsonl").write_text("\n".join(json.dumps(r) for r in scores.to_dict("records")))
    elif suffix == ".csv":
        scores.to_csv(folder / "day.csv", index=False)
    else:
        scores.to_parquet(folder / "day.parquet")
    (folder / "notes.txt").write_text("not feedback")                 # other files are not read
    _, settings = write_settings(feedback={"path": str(folder), "name": "helpfulness"})
    res = open_resources(settings)
    res.request_log.append(unscored)
    plan = plan_lookback(res, WINDOW)
    rollup = rollup_partition(res, plan.partitions[-1], plan.fingerprints[-1])
    assert scored(rollup) == (3, pytest.approx(1.25, abs=1e-12)) and rollup.feedback_scores == 3
    assert read_rollups(res, plan).pending           # nothing stored yet: the window is read in the run
