"""The SQL request source on SQLite (window filter in the database, columns, quarantine) and GroupedRegressor."""

import pickle
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LinearRegression

from llmopt.extract.adbc import READ_PARTS, SQLITE_BATCH_ROWS
from llmopt.extract.sql_source import SqlRequestLog
from llmopt.extract.synthetic import generate_requests
from llmopt.fit.grouped import GroupedRegressor

END = datetime(2026, 11, 20, 11, tzinfo=timezone.utc)


def test_window_is_half_open_and_reads_only_the_asked_columns(tmp_path):
    log = SqlRequestLog(f"sqlite:///{tmp_path}/r.db", "llm_requests", "llm_requests_quarantine")
    assert log.latest_ts() is None
    with pytest.raises(LookupError, match="no SQLite file at"):       # a read never creates the database
        log.present_columns()
    assert not (tmp_path / "r.db").exists()
    frame = generate_requests(600, hours=2, seed=3, end=END)
    log.append(frame)
    start = END - timedelta(hours=1)
    inside = frame[(frame["ts"] >= start) & (frame["ts"] < END)]
    got = log.extract_window(start, END, ["request_id", "model", "latency_ms", "no_such_column"])
    assert list(got.columns) == ["request_id", "model", "latency_ms"]
    assert sorted(got["request_id"]) == sorted(inside["request_id"])
    assert log.count_window(start, END) == len(inside)
    assert log.count_window(END, END + timedelta(hours=1)) == 0
    assert log.latest_ts() == frame["ts"].max().to_pydatetime()
    assert log.existing_request_ids(["nope", frame["request_id"].iloc[0]]) == {frame["request_id"].iloc[0]}


def test_the_sqlite_driver_returns_a_window_in_batches_of_the_set_size(tmp_path):
    log = SqlRequestLog(f"sqlite:///{tmp_path}/r.db", "llm_requests", "llm_requests_quarantine")
    frame = generate_requests(3 * SQLITE_BATCH_ROWS, hours=1, seed=3, end=END)
    log.append(frame)
    table = log.read_table(END - timedelta(hours=1), END, ["request_id", "ts", "latency_ms"])
    assert table.num_rows == len(frame)
    assert sorted(table.column("request_id").to_pylist()) == sorted(frame["request_id"])
    sizes = [b.num_rows for b in table.to_batches()]
    assert max(sizes) == SQLITE_BATCH_ROWS and len(sizes) <= 3 + READ_PARTS     # a partial batch per read part at most


def test_quarantine_is_replaced_per_source(tmp_path):
    log = SqlRequestLog(f"sqlite:///{tmp_path}/r.db", "llm_requests", "llm_requests_quarantine")
    bad = pd.DataFrame({"request_id": ["a", "b"], "ts": ["x", None], "latency_ms": [-1.0, 2.0],
                        "reason": ["latency_ms: below 0", "ts: missing"]})
    assert log.replace_quarantine("window 1", bad) == 2
    assert log.replace_quarantine("window 1", bad.head(1)) == 1        # a re-run replaces, never piles up
    log.replace_quarantine("window 2", bad)
    stored = log.read_quarantine("window 1")
    assert list(stored["reason"]) == ["latency_ms: below 0"]
    assert len(log.read_quarantine()) == 3


def test_grouped_regressor_fits_one_model_per_group_and_follows_the_estimator_contract():
    x = np.arange(100, dtype=float)
    frame = pd.DataFrame({"model": ["a"] * 100 + ["b"] * 100 + ["c"] * 5, "prompt_tokens": np.r_[x, x, x[:5]]})
    y = np.r_[2 * x + 1, -x + 7, x[:5]]
    est = GroupedRegressor(LinearRegression(), min_rows=30).fit(frame, y)
    assert est.rows_ == {("a",): 100, ("b",): 100}                     # c: fewer than min_rows → no model
    probe = pd.DataFrame({"model": ["b", "a", "c"], "prompt_tokens": [10.0, 10.0, 10.0]})
    pred = est.predict(probe)
    assert pred[:2] == pytest.approx([-3.0, 21.0], abs=1e-9) and np.isnan(pred[2])
    assert est.has_group("a") and not est.has_group("c")
    assert clone(est).get_params()["min_rows"] == 30
    assert pickle.loads(pickle.dumps(est)).predict(probe)[1] == pytest.approx(21.0, abs=1e-9)


def test_one_openmp_thread_per_group_gives_the_trees_every_thread_count_gives():
    """The latency models fit each group with one OpenMP thread (fit/grouped.py): their predictions must be
    exactly those of the same estimator fitted with the machine's default threads."""
    from threadpoolctl import threadpool_info

    from llmopt.fit.models import latency_quantile_model

    rng = np.random.default_rng(3)
    n = 6000
    frame = pd.DataFrame({"model": rng.choice(["a", "b"], n), "prompt_tokens": rng.integers(10, 3000, n),
                          "completion_tokens": rng.integers(1, 800, n)}).astype({"prompt_tokens": float})
    y = 80 + 0.05 * frame["prompt_tokens"] + 1.5 * frame["completion_tokens"] + rng.gamma(2.0, 40.0, n)
    grouped = latency_quantile_model(0.95).fit(frame, y)
    for key, model in grouped.estimators_.items():
        rows = (frame["model"] == key[0]).to_numpy()
        default = clone(model).fit(frame.loc[rows, ["prompt_tokens", "completion_tokens"]].to_numpy(float), y[rows])
        assert np.array_equal(grouped.predict(frame[rows]),
                              default.predict(frame.loc[rows, ["prompt_tokens", "completion_tokens"]].to_numpy(float)))
    assert any(i["user_api"] == "openmp" for i in threadpool_info())     # the limit has an OpenMP runtime to bind
