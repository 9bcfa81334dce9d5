"""Real faults: a frozen S3 server, a refused database, a read-only config store, a run killed with -9, two
runs of one window. Each asserts the bound on time, a one-line error naming the setting, and a store that is
never half-published."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from llmopt.cli import main
from llmopt.decide.run_lock import lock_file, lock_key, window_lock
from llmopt.domain import ConfigKeys, Window
from llmopt.publish.publishing import latest_config, list_services, published_versions
from llmopt.resources import open_resources
from tests import services
from tests.conftest import WINDOW_END, WINDOW_START

pytestmark = pytest.mark.usefixtures("prefect_harness")
WINDOW = ["--start", WINDOW_START.isoformat(), "--end", WINDOW_END.isoformat()]


def last_error(capsys) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]


def assert_consistent(store):
    """Every service's latest.json is its highest version, byte for byte; no temp file is visible."""
    for service in list_services(store):
        top = published_versions(store, service)[-1]
        assert store.read(ConfigKeys.latest(service)) == store.read(ConfigKeys.version(service, top)), service
    assert not [k for k in store.list("") if ".tmp" in k]


def test_a_frozen_s3_config_store_fails_the_run_in_bounded_time_naming_the_setting(write_settings, traffic_hour,
                                                                                    capsys):
    url, stop = services.start_moto()
    boto3.client("s3", endpoint_url=url).create_bucket(Bucket="cfg")
    path, settings = write_settings(config_store_uri="s3://cfg/llm", s3_endpoint_url=url, s3_timeout_seconds=1,
                                    s3_max_attempts=2)
    open_resources(settings).request_log.append(traffic_hour)
    os.kill(stop.proc.pid, signal.SIGSTOP)     # a real hang: connections are accepted, nothing answers
    try:
        started = time.monotonic()
        assert main(["--config", str(path), "run", *WINDOW]) == 1
        seconds = time.monotonic() - started
    finally:
        os.kill(stop.proc.pid, signal.SIGCONT)
    err = last_error(capsys)
    assert err.startswith(f"llmopt: error: ConfigStoreUnavailable: config store s3://cfg/llm (setting "
                          f"config_store_uri) at {url} (setting s3_endpoint_url) did not answer"), err
    assert seconds < 90, seconds    # 2 task tries × 2 attempts × (1 s connect + 6 s read), plus the flow
    store = open_resources(settings).config_store
    assert store.list("") == []     # nothing published; with the server back, a re-run publishes whole
    assert main(["--config", str(path), "run", *WINDOW]) == 0
    assert sorted(list_services(store)) == ["search", "support"]
    assert_consistent(store)
    stop()


def test_a_database_that_refuses_fails_in_one_line_without_its_password(write_settings, capsys):
    # a real fault: nothing listens on port 9; the URL's password must not reach the message
    path, settings = write_settings(database_url="postgresql+psycopg://llmopt:s3cret@127.0.0.1:9/llm",
                                    database_timeout_seconds=2)
    started = time.monotonic()
    assert main(["--config", str(path), "run", *WINDOW]) == 1
    assert time.monotonic() - started < 60
    err = last_error(capsys)
    assert err.startswith("llmopt: error: DatabaseUnavailable: database at "
                          "postgresql+psycopg://llmopt:***@127.0.0.1:9/llm (setting database_url) did not answer"), err
    assert "s3cret" not in capsys.readouterr().err


def test_a_read_only_config_store_publishes_nothing_and_the_re_run_publishes_whole(write_settings, traffic_hour,
                                                                                    tmp_path, capsys):
    path, settings = write_settings()
    open_resources(settings).request_log.append(traffic_hour)
    configs = tmp_path / "configs"
    configs.mkdir()
    # root ignores permission bits: the immutable attribute refuses every new entry, root's included
    if subprocess.run(["chattr", "+i", str(configs)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not supported on this filesystem")
    try:
        assert main(["--config", str(path), "run", *WINDOW]) == 1
        assert "Operation not permitted" in last_error(capsys)     # not retried: tests/unit/test_failures.py
    finally:
        subprocess.run(["chattr", "-i", str(configs)], check=True)
    store = open_resources(settings).config_store
    assert os.listdir(configs) == []
    assert main(["--config", str(path), "run", *WINDOW]) == 0
    assert [published_versions(store, s) for s in list_services(store)] == [[1], [1]]
    assert_consistent(store)


def test_a_run_of_a_window_another_run_holds_does_nothing_and_exits_0(write_settings, traffic_hour, capsys):
    path, settings = write_settings()
    res = open_resources(settings)
    res.request_log.append(traffic_hour)
    key = lock_key(Window(WINDOW_START, WINDOW_END), settings.config_store_uri)
    with window_lock(res.engine, key, "the scheduled run", 5):
        assert main(["--config", str(path), "run", *WINDOW, "--json"]) == 0
        summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "window busy" and "the scheduled run" in summary["message"]
    assert res.config_store.list("") == []
    assert main(["--config", str(path), "run", *WINDOW, "--json"]) == 0       # released: the next run works
    assert json.loads(capsys.readouterr().out)["status"] == "published"


def group_gone(pgid: int, within: float) -> bool:
    """True once no process of the group is left (killed processes linger briefly until they are reaped)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.5)
    return False


def llmopt_process(path: Path, tmp_path: Path, name: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_HOME": str(tmp_path / f"prefect-{name}"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300"}
    return subprocess.Popen([sys.executable, "-m", "llmopt", "--config", str(path), "run", *WINDOW, "--json"],
                            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)      # its own process group: kill -9 reaches Prefect's server


def test_two_runs_of_one_window_at_once_publish_one_version(write_settings, traffic_hour, tmp_path):
    path, settings = write_settings()
    open_resources(settings).request_log.append(traffic_hour)
    runs = [llmopt_process(path, tmp_path, name) for name in ("scheduled", "manual")]
    outs = [run.communicate(timeout=900) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err[-2000:] for _, err in outs]
    statuses = sorted(json.loads(out)["status"] for out, _ in outs)
    # the second either found the window held, or (if it started after the first ended) nothing new to publish
    assert statuses in (["published", "window busy"], ["no change", "published"]), statuses
    store = open_resources(settings).config_store
    assert [published_versions(store, s) for s in list_services(store)] == [[1], [1]]
    assert_consistent(store)


def wait_until_it_holds_the_window(run: subprocess.Popen, lock: Path, within: float) -> None:
    """Until the run has taken its window's lock (its pid in the lock file): mid-run, Prefect up, whatever the
    machine's speed (a fixed sleep let a fast run finish first)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and run.poll() is None:
        try:
            if json.loads(lock.read_text() or "{}").get("pid") == run.pid:
                return
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"the run never held {lock} (exit code {run.poll()})")


def test_a_run_killed_with_minus_9_leaves_no_lock_and_the_re_run_finishes(write_settings, traffic_hour, tmp_path,
                                                                          capsys):
    path, settings = write_settings()
    res = open_resources(settings)
    res.request_log.append(traffic_hour)
    run = llmopt_process(path, tmp_path, "killed")
    key = lock_key(Window(WINDOW_START, WINDOW_END), settings.config_store_uri)
    wait_until_it_holds_the_window(run, lock_file(res.engine, key), within=300)
    os.killpg(run.pid, signal.SIGKILL)
    assert run.wait(timeout=30) == -signal.SIGKILL          # killed, not finished
    assert group_gone(run.pid, within=30)                   # nothing of it (Prefect's server included) lives on
    assert main(["--config", str(path), "run", *WINDOW, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] in ("published", "no change"), summary["status"]   # not "window busy": lock gone
    assert_consistent(res.config_store)
    assert {s: latest_config(res.config_store, s).routes["summarize" if s == "search" else "classify_ticket"].model
            for s in list_services(res.config_store)} == {"search": "gpt-4o-mini", "support": "gpt-4o-mini"}


def test_a_missing_sqlite_file_is_one_line_naming_the_setting_and_is_not_created(write_settings, tmp_path, capsys):
    database = tmp_path / "nowhere" / "requests.db"
    path, _ = write_settings(database_url=f"sqlite:///{database}")
    assert main(["--config", str(path), "run", *WINDOW]) == 1
    assert last_error(capsys) == (f"llmopt: error: LookupError: database_url sqlite:///{database}: no SQLite file "
                                  f"at {database} (llmopt reads the request log there and does not create it)")
    assert not database.parent.exists()


def test_a_corrupt_sqlite_file_fails_at_once_naming_the_setting(write_settings, tmp_path, capsys):
    database = tmp_path / "requests.db"
    database.write_bytes(os.urandom(8192))
    path, _ = write_settings(database_url=f"sqlite:///{database}")
    started = time.monotonic()
    assert main(["--config", str(path), "run", "--dry-run", *WINDOW]) == 1      # a dry run reads it first
    assert time.monotonic() - started < 60      # not retried: task retries wait 10 s + 60 s
    assert last_error(capsys) == (f"llmopt: error: NotADatabase: database_url sqlite:///{database}: "
                                  "file is not a database")


def test_a_config_key_that_is_a_folder_fails_at_once(write_settings, traffic_hour, tmp_path, capsys):
    path, settings = write_settings()
    open_resources(settings).request_log.append(traffic_hour)
    (tmp_path / "configs" / "support" / "latest.json").mkdir(parents=True)
    assert main(["--config", str(path), "run", *WINDOW]) == 1
    assert "Is a directory" in last_error(capsys)     # not retried: tests/unit/test_failures.py
