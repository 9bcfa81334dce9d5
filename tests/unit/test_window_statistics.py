"""Experiments, the monitor and budgets on every source: the rollups' statistics equal the SQL table's."""

from datetime import timedelta

import pandas as pd
import pytest

from llmopt.experiments.simulation import ArmTruth, experiment_requests
from llmopt.extract.sql_source import SqlRequestLog
from llmopt.resources import Resources
from llmopt.rollup.window_statistics import RollupStatistics, SqlStatistics
from llmopt.settings import Settings
from tests.unit.extract.test_lake_source import write_hive
from tests.unit.test_experiments import PRICES, START, definition

HOURS = 6


@pytest.fixture(scope="module")
def world():
    exp = definition()
    frame = experiment_requests(exp, {"current": ArmTruth(0.88), "mini": ArmTruth(0.86, error_rate=0.03)},
                                START, HOURS, 400, seed=4)
    return exp, frame


def both(tmp_path, frame, engine="duckdb"):
    """The same rows as the SQL table (aggregated in SQLite) and as a Parquet lake (summed from rollups)."""
    stores = {"config_store_uri": f"file://{tmp_path}/configs", "rollups_dir": str(tmp_path / "rollups")}
    log = SqlRequestLog(f"sqlite:///{tmp_path}/requests.db", "llm_requests", "llm_requests_quarantine")
    log.ensure_tables()
    log.append(frame)
    write_hive(frame, tmp_path / "lake")
    sql = Resources(Settings(database_url=f"sqlite:///{tmp_path}/requests.db", **stores))
    lake = Resources(Settings(database_url=f"sqlite:///{tmp_path}/quarantine.db",
                              requests_path=str(tmp_path / "lake"), engine=engine, **stores))
    assert isinstance(sql.statistics, SqlStatistics) and isinstance(lake.statistics, RollupStatistics)
    return sql, lake


def assert_same(got, expected):
    assert got.units == expected.units > 0
    assert set(got.metrics) == set(expected.metrics) == {"quality", "cost_per_request", "latency", "ttft", "error_rate"}
    for name in ("quality", "cost_per_request", "latency", "ttft"):
        g, e = got.metrics[name], expected.metrics[name]
        assert g.n == e.n, name
        assert g.mean == pytest.approx(e.mean, rel=1e-9), name         # float sums in another order
        assert g.variance == pytest.approx(e.variance, rel=1e-6), name
    assert (got.metrics["error_rate"].n, got.metrics["error_rate"].successes) == \
        (expected.metrics["error_rate"].n, expected.metrics["error_rate"].successes)


@pytest.mark.parametrize("engine", ["duckdb", "pandas"])
def test_a_lake_gives_an_experiment_the_statistics_the_sql_table_gives(tmp_path, world, engine):
    exp, frame = world
    sql, lake = both(tmp_path, frame, engine)
    end = START + timedelta(hours=HOURS)
    models = sorted({v.model for v in exp.variants})
    expected = sql.statistics.variant_statistics(exp.id, START, end, PRICES, models)
    got = lake.statistics.variant_statistics(exp.id, START, end, PRICES, models)
    assert sorted(got) == sorted(expected) == ["current", "mini"]
    for variant in expected:
        assert_same(got[variant], expected[variant])
    assert len(lake.rollup_store.keys()) == HOURS            # rolled up on demand, and kept for the next call
    again = lake.statistics.variant_statistics(exp.id, START, end, PRICES, models)
    assert again["mini"].units == expected["mini"].units


def test_monitor_windows_are_cut_on_the_partition_grid(tmp_path, world):
    _, frame = world
    sql, lake = both(tmp_path, frame)
    since = START + timedelta(hours=2, minutes=30)              # a change published mid-hour
    got = lake.statistics.route_statistics("search", "summarize", "gpt-4o-mini", since, START + timedelta(hours=5),
                                           PRICES)
    # the hour holding `since` counts after it: [2:00, 5:00) on the grid
    expected = sql.statistics.route_statistics("search", "summarize", "gpt-4o-mini", START + timedelta(hours=2),
                                               START + timedelta(hours=5), PRICES)
    assert_same(got, expected)
    nothing = lake.statistics.route_statistics("search", "summarize", "gpt-4o-mini", since, since, PRICES)
    assert (nothing.units, nothing.metrics) == (0, {})


def test_hourly_spend_from_the_rollups_equals_the_sum_in_the_database(tmp_path, world):
    _, frame = world
    sql, lake = both(tmp_path, frame)
    end = START + timedelta(hours=HOURS)
    expected = sql.statistics.hourly_spend(START, end, PRICES)
    got = lake.statistics.hourly_spend(START, end, PRICES)
    assert len(got) == len(expected) == HOURS
    assert list(pd.to_datetime(got["hour"], utc=True)) == list(pd.to_datetime(expected["hour"], utc=True))
    assert got["spend_usd"].to_numpy() == pytest.approx(expected["spend_usd"].to_numpy(), rel=1e-9)
    assert got["spend_usd"].sum() == pytest.approx(PRICES.fill_cost(frame).sum(), rel=1e-9)


def test_the_run_calls_an_experiment_logged_only_in_a_lake(tmp_path, world):
    from llmopt.domain import Window
    from llmopt.pipeline import analyze_experiments

    exp, frame = world
    write_hive(frame, tmp_path / "lake")
    res = Resources(Settings(database_url=f"sqlite:///{tmp_path}/quarantine.db", requests_path=str(tmp_path / "lake"),
                             rollups_dir=str(tmp_path / "rollups"), config_store_uri=f"file://{tmp_path}/configs",
                             experiments=[exp.model_dump()]))
    [call] = analyze_experiments(res, Window(START, START + timedelta(hours=HOURS)), {})
    assert call.experiment_id == exp.id
    assert call.units == dict(frame["variant"].value_counts())          # every logged unit, none from SQL


def test_late_scores_count_in_an_experiment_on_the_sql_table(tmp_path, world):
    from sqlalchemy import insert

    from llmopt.extract.feedback import FeedbackLog

    exp, frame = world
    unscored = frame.assign(quality_score=float("nan"))
    late = frame.dropna(subset=["quality_score"])
    sql, _ = both(tmp_path, unscored)
    res = Resources(Settings(database_url=f"sqlite:///{tmp_path}/requests.db", feedback={"table": "llm_feedback"},
                             rollups_dir=str(tmp_path / "rollups"), config_store_uri=f"file://{tmp_path}/configs"))
    assert isinstance(res.statistics, RollupStatistics) and isinstance(res.statistics.spend, SqlStatistics)
    with res.engine.begin() as conn:          # every score arrives an hour after its request, apart from it
        conn.execute(insert(FeedbackLog.create_table(res.engine, "llm_feedback")), [
            {"request_id": r.request_id, "name": "quality", "value": r.quality_score, "ts": r.ts + timedelta(hours=1)}
            for r in late.itertuples()])
    end = START + timedelta(hours=HOURS)
    models = sorted({v.model for v in exp.variants})
    assert sql.statistics.variant_statistics(exp.id, START, end, PRICES, models)["mini"].metrics["quality"].n == 0
    got = res.statistics.variant_statistics(exp.id, START, end, PRICES, models)
    for variant, rows in late.groupby("variant"):
        assert got[variant].metrics["quality"].n == len(rows)
        assert got[variant].metrics["quality"].mean == pytest.approx(rows["quality_score"].mean(), rel=1e-9)
    # spend does not depend on scores: still summed in the database
    assert res.statistics.hourly_spend(START, end, PRICES)["spend_usd"].sum() == pytest.approx(
        PRICES.fill_cost(frame).sum(), rel=1e-9)
