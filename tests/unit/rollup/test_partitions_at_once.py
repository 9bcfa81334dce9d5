"""How many partitions a run reduces at once, and the share of DuckDB's threads each gets."""

from llmopt.engine.partition import _database, use_threads
from llmopt.rollup.lookback import partitions_at_once, partitions_in_flight
from llmopt.settings import Settings


def test_auto_runs_two_for_a_day_and_one_for_an_hour_or_a_single_core():
    assert [partitions_at_once(0, n, cores=2) for n in (1, 2, 7, 8, 24)] == [1, 1, 1, 2, 2]
    assert partitions_at_once(0, 24, cores=1) == 1
    assert partitions_at_once(3, 1, cores=1) == 3                  # a setting is kept as given


def test_threads_here_share_the_process_duckdb_and_dask_workers_their_machine():
    assert partitions_in_flight(Settings(), 24)[1] == partitions_in_flight(Settings(), 24)[0]
    assert partitions_in_flight(Settings(dask_workers=3), 2) == (3, 3)
    assert partitions_in_flight(Settings(dask_scheduler_address="tcp://s:8786", partition_concurrency=16), 100) == (16, 1)


def test_use_threads_divides_the_cores():
    assert use_threads(2, cores=4) == 2
    assert _database().cursor().execute("SELECT current_setting('threads')").fetchall()[0][0] == 2
    assert use_threads(8, cores=4) == 1
    assert use_threads(1, cores=4) == 4
    assert _database().cursor().execute("SELECT current_setting('threads')").fetchall()[0][0] == 4
    use_threads(1)                                                 # this machine's cores again
