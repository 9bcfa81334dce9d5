"""The `llmopt` command line: run --json, exit codes, generate, ingest, configs; tasks via .fn()."""

import json
import os
import subprocess
import sys
import time

import pandas as pd
import pytest
from prefect.logging import disable_run_logger

from llmopt.cli import main
from llmopt.domain import Window
from llmopt.resources import open_resources
from llmopt.rollup.partition import Partition
from llmopt.tasks.rollup import rollup_partition
from tests.conftest import WINDOW_END, WINDOW_START

pytestmark = pytest.mark.usefixtures("prefect_harness")
WINDOW = ["--start", WINDOW_START.isoformat(), "--end", WINDOW_END.isoformat()]


def test_run_json_then_configs_list_show_diff(write_settings, traffic_hour, capsys):
    path, settings = write_settings()
    open_resources(settings).request_log.append(traffic_hour)

    assert main(["--config", str(path), "run", *WINDOW, "--dry-run", "--json"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["status"] == "dry run" and dry["published"] == [] and len(dry["changes"]) == 3

    assert main(["--config", str(path), "run", *WINDOW, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [p["version"] for p in summary["published"]] == [1, 1] and summary["mlflow_run_id"]

    assert main(["--config", str(path), "configs", "list"]) == 0
    listing = capsys.readouterr().out
    assert "support: v1 of 1" in listing and "classify_ticket=gpt-4o-mini, draft_reply=gpt-4o" in listing
    assert main(["--config", str(path), "configs", "show", "search"]) == 0
    assert json.loads(capsys.readouterr().out)["routes"]["summarize"]["model"] == "gpt-4o-mini"
    assert main(["--config", str(path), "configs", "diff", "search"]) == 0
    assert "first version" in capsys.readouterr().out


def test_failure_exits_non_zero_with_one_line(write_settings, traffic_hour, tmp_path):
    path, settings = write_settings()
    traffic_hour.head(2000).drop(columns=["status"]).to_sql(settings.requests_table, open_resources(settings).request_log.engine,
                                                           index=False)
    # a real process: what a user's terminal shows, Prefect's console logging included
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300"}
    done = subprocess.run([sys.executable, "-m", "llmopt", "--config", str(path), "run", *WINDOW], env=env,
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 1
    err = done.stderr.strip().splitlines()
    assert err[-1] == ("llmopt: error: ContractBreach: window 2026-11-20T10:00:00+00:00/2026-11-20T11:00:00+00:00: "
                       "data contract breached: status: expect_column_to_exist failed (column not found)")
    # Prefect logs the failed task and flow run in one line each, without the traceback (was ~70 lines), and
    # does not retry the task: the same data would fail the same way
    assert not [line for line in err if "Traceback" in line or "Retrying" in line], err
    assert len([line for line in err if "| ERROR" in line]) == 2, err


def test_generate_then_ingest_csv_twice_is_harmless(write_settings, tmp_path, capsys):
    path, settings = write_settings()
    assert main(["--config", str(path), "generate", "--rows", "3000", "--hours", "2",
                 "--end", WINDOW_END.isoformat(), "--seed", "3"]) == 0
    assert "wrote 3,000 requests" in capsys.readouterr().out
    frame = open_resources(settings).request_log.extract_window(WINDOW_START, WINDOW_END, ["request_id"])
    assert 1200 < len(frame) < 1800                 # about half of two hours

    csv = tmp_path / "more.csv"
    rows = pd.read_sql(f"select * from {settings.requests_table} limit 50", open_resources(settings).request_log.engine)
    rows["request_id"] = "csv-" + rows["request_id"]
    rows.loc[0, "completion_tokens"] = -1
    rows.to_csv(csv, index=False)
    for expected_written in (49, 0):
        assert main(["--config", str(path), "ingest", str(csv), "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert (result["rows_written"], result["rows_quarantined"]) == (expected_written, 1)
        assert result["quarantine_reasons"] == {"completion_tokens < 0": 1}


def test_partition_task_reads_only_its_slice(write_settings, traffic_hour):
    _, settings = write_settings()
    spread = traffic_hour.iloc[::120]                 # 1,000 rows across the hour
    open_resources(settings).request_log.append(spread)
    half = WINDOW_START + (WINDOW_END - WINDOW_START) / 2
    with disable_run_logger():
        rollup = rollup_partition.fn(settings, Partition(WINDOW_START, half), "digest")
    inside = spread.loc[spread["ts"] < half, "request_id"]
    assert 400 < len(inside) < 600 and rollup.rows_read == len(inside)
    assert sorted(rollup.sample["request_id"]) == sorted(inside)       # under the sample bound: every row
    assert rollup.cells["requests"].sum() == len(inside)


def test_mlflow_down_fails_the_run_fast_naming_mlflow_and_publishes_nothing(write_settings, traffic_hour, capsys):
    # a real fault: nothing listens on port 9 (discard), so every MLflow request is refused
    path, settings = write_settings(mlflow_tracking_uri="http://llmopt:s3cret@127.0.0.1:9")
    open_resources(settings).request_log.append(traffic_hour)
    started = time.monotonic()
    assert main(["--config", str(path), "run", *WINDOW]) == 1
    seconds = time.monotonic() - started
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("llmopt: error: TrackerUnavailable: MLflow at http://llmopt:***@127.0.0.1:9 "
                          "(setting mlflow_tracking_uri) did not answer"), err
    assert "s3cret" not in err
    assert seconds < 120, seconds           # bounded: 2 task tries × 3 requests × ≤ 10 s, plus the flow (was 654 s)
    assert open_resources(settings).config_store.list("") == []


def test_a_slow_prefect_start_gives_the_remedy_in_one_line(write_settings, tmp_path):
    # a real fault: the temporary server cannot start within 1 s (it takes ~9 s)
    path, _ = write_settings()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "1"}
    done = subprocess.run([sys.executable, "-m", "llmopt", "--config", str(path), "run", "--dry-run"], env=env,
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "llmopt: error: the temporary Prefect server did not start in time "
        "(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=1); on a busy machine raise it, or start "
        "`prefect server start` once and set PREFECT_API_URL=http://127.0.0.1:4200/api")
