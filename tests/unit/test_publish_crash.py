"""Crash consistency of publish: a crash after any write leaves a store the next run makes consistent.

The crash is injected at the store's edge (the k-th write raises, as a killed process or a lost connection
would stop there): a real crash cannot be placed on one exact write.
"""

from datetime import datetime, timezone
from pathlib import Path
from threading import Barrier, Thread

import pytest

from llmopt.domain import ConfigKeys
from llmopt.publish.build import successor_config
from llmopt.publish.exports import SUFFIX
from llmopt.publish.publishing import PublishConflict, adopt_orphans, latest_config, publish, published_versions
from llmopt.publish.service_config import load_schema
from llmopt.publish.store import LocalConfigStore, PointerMoved, S3ConfigStore

CONTRACTS = Path(__file__).parents[2] / "data_contracts"
EXPORTS = ("litellm", "portkey")
WRITES_PER_PUBLISH = 1 + 2 * len(EXPORTS) + 1       # version, its exports, the export pointers, latest.json


class Crash(Exception):
    pass


class CrashingStore:
    """The real store, but the process 'dies' at its `crash_at`-th write (1-based): that write never happens."""

    def __init__(self, inner, crash_at: int):
        self.inner, self.crash_at, self.writes = inner, crash_at, 0

    def _count(self):
        self.writes += 1
        if self.writes == self.crash_at:
            raise Crash(f"crash at write {self.writes}")

    def write(self, key, data, *, exclusive=False):
        self._count()
        self.inner.write(key, data, exclusive=exclusive)

    def swap(self, key, data, expected_tag):
        self._count()
        self.inner.swap(key, data, expected_tag)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def config(version: int, model: str, previous=None):
    return successor_config("support", previous.to_dict() if previous else None,
                            {"chat": {"model": model, "provider": "openai"}}, [], version,
                            datetime(2026, 11, 1, tzinfo=timezone.utc), {"prefect_flow_run_id": f"run-{version}"})


def publish_one(store, version, model, previous=None):
    return publish(store, [config(version, model, previous)], load_schema(CONTRACTS), EXPORTS, CONTRACTS)


def assert_consistent(store, version: int, model: str):
    """latest.json = the highest version, byte for byte; every pointer of the same version; no temp files."""
    assert published_versions(store, "support")[-1] == version
    assert store.read(ConfigKeys.latest("support")) == store.read(ConfigKeys.version("support", version))
    for kind in EXPORTS:
        assert (store.read(ConfigKeys.latest("support", SUFFIX[kind]))
                == store.read(ConfigKeys.version("support", version, SUFFIX[kind])))
    assert latest_config(store, "support").routes["chat"].model == model
    assert not [k for k in store.list("") if k.endswith(".tmp")]



@pytest.mark.parametrize("crash_at", range(1, WRITES_PER_PUBLISH + 1))
def test_a_crash_after_any_write_is_finished_by_the_next_run_local(tmp_path, crash_at):
    check_crash_at(LocalConfigStore(tmp_path / "configs"), crash_at)


def test_a_crash_after_any_write_is_finished_by_the_next_run_s3(s3_endpoint):
    import boto3

    for crash_at in range(1, WRITES_PER_PUBLISH + 1):
        bucket = f"crash-{crash_at}"
        boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
        check_crash_at(S3ConfigStore(bucket, "cfg", endpoint_url=s3_endpoint), crash_at)


def check_crash_at(store, crash_at: int):
    first = config(1, "gpt-4o")
    publish(store, [first], load_schema(CONTRACTS), EXPORTS, CONTRACTS)
    with pytest.raises(Crash):
        publish_one(CrashingStore(store, crash_at), 2, "gpt-4o-mini", first)
    adopted = adopt_orphans(store, EXPORTS, CONTRACTS)
    if crash_at == 1:            # nothing was written: nothing to adopt, v1 stays latest
        assert adopted == []
        assert_consistent(store, 1, "gpt-4o")
    else:                        # v2 was complete: its missing exports and pointers are finished
        assert [(a.version, a.previous_latest) for a in adopted] == [(2, 1)]
        assert_consistent(store, 2, "gpt-4o-mini")
    assert adopt_orphans(store, EXPORTS, CONTRACTS) == []        # a re-run does nothing more
    top = published_versions(store, "support")[-1]
    publish_one(store, top + 1, "claude-3-haiku", latest_config(store, "support"))
    assert_consistent(store, top + 1, "claude-3-haiku")


def test_two_publishers_of_one_version_one_wins_and_the_other_says_so(tmp_path):
    store = LocalConfigStore(tmp_path / "configs")
    first = config(1, "gpt-4o")
    publish(store, [first], load_schema(CONTRACTS), EXPORTS, CONTRACTS)
    start, errors = Barrier(8), []

    def race(i):
        start.wait()
        try:
            publish_one(store, 2, f"model-{i}", first)
        except PublishConflict as err:
            errors.append(str(err))

    threads = [Thread(target=race, args=(i,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(errors) == 7 and all("support: v2 was published by another run" in e for e in errors)
    assert_consistent(store, 2, latest_config(store, "support").routes["chat"].model)


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_a_pointer_moved_since_it_was_read_is_not_overwritten(tmp_path, kind, request):
    if kind == "local":
        store = LocalConfigStore(tmp_path / "configs")
    else:
        import boto3

        endpoint = request.getfixturevalue("s3_endpoint")
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="swap")
        store = S3ConfigStore("swap", "", endpoint_url=endpoint)
    _, absent = store.read_tagged("svc/latest.json")
    store.swap("svc/latest.json", b"1", absent)
    _, tag = store.read_tagged("svc/latest.json")
    store.swap("svc/latest.json", b"2", tag)                  # moves from what it read: accepted
    with pytest.raises(PointerMoved):
        store.swap("svc/latest.json", b"3", tag)              # a stale tag: refused
    with pytest.raises(PointerMoved):
        store.swap("svc/latest.json", b"4", None)             # "still absent": refused
    assert store.read("svc/latest.json") == b"2"
