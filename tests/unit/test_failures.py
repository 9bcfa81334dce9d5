"""Which failures a task retries: real errors from real files, databases and stores, through the task's own
`retry_condition_fn`. A retry waits 10 s then 60 s, so each wrong "retry" costs a user 70 s before the message."""

import os
import subprocess

import pytest
from prefect.states import Failed

from llmopt.extract.sql_source import NotADatabase, SqlRequestLog
from llmopt.publish.store import open_config_store
from llmopt.tasks.retries import retry_if_transient


def raised(action) -> BaseException:
    try:
        action()
    except BaseException as err:       # noqa: BLE001 - the real error is the subject
        return err
    raise AssertionError("no error")


def retried(err: BaseException) -> bool:
    return retry_if_transient(None, None, Failed(data=err))


def test_a_corrupt_sqlite_file_is_not_retried(tmp_path):
    (tmp_path / "requests.db").write_bytes(os.urandom(8192))
    err = raised(lambda: SqlRequestLog(f"sqlite:///{tmp_path}/requests.db", "llm_requests", "q").present_columns())
    assert isinstance(err, NotADatabase) and "file is not a database" in str(err)
    assert not retried(err)


def test_a_config_key_that_is_a_folder_is_not_retried(tmp_path):
    store = open_config_store(f"file://{tmp_path}/configs")
    (tmp_path / "configs" / "support" / "latest.json").mkdir(parents=True)
    err = raised(lambda: store.read("support/latest.json"))
    assert isinstance(err, IsADirectoryError) and not retried(err)


def test_a_config_store_folder_that_refuses_writes_is_not_retried(tmp_path):
    folder = tmp_path / "configs"
    folder.mkdir()
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not supported on this filesystem")
    try:
        err = raised(lambda: open_config_store(f"file://{folder}").write("support/v000001.json", b"{}", exclusive=True))
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    assert isinstance(err, PermissionError) and not retried(err)


def test_a_file_below_a_file_is_not_retried(tmp_path):
    (tmp_path / "plain").write_text("x")
    err = raised(lambda: open(tmp_path / "plain" / "inner", "w"))
    assert isinstance(err, NotADirectoryError) and not retried(err)


def test_a_vanished_file_or_a_refused_connection_is_retried(tmp_path):
    assert retried(raised(lambda: open(tmp_path / "gone")))              # a lake file removed after listing
    assert retried(ConnectionRefusedError(111, "Connection refused"))
