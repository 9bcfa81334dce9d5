"""The request-log contract: row-level breaches quarantine, batch-level breaches stop."""

import numpy as np
import pandas as pd
import pytest

from llmopt.validate.contract import ContractBreach, RequestContract
from llmopt.extract.schema import REQUEST_COLUMNS, ROUTING_COLUMNS
from llmopt.settings import Settings


@pytest.fixture(scope="module")
def contract():
    return RequestContract(Settings().contracts_dir)


def rows(n=6) -> pd.DataFrame:
    return pd.DataFrame({
        "request_id": [f"r{i}" for i in range(n)], "ts": [f"2026-11-20 10:{i // 60:02d}:{i % 60:02d}.000000" for i in range(n)],
        "service": "s", "task_type": "t", "provider": "openai", "model": "gpt-4o",
        "prompt_tokens": 100, "completion_tokens": 10, "cached_tokens": 0, "latency_ms": 500.0,
        "status": "ok", "cost_usd": np.nan, "quality_score": 0.9, "finish_reason": "stop", "variant": None, "max_tokens": 1024})


def test_clean_rows_pass_and_ts_is_parsed_to_utc(contract, prices):
    out = contract.validate(rows(), ROUTING_COLUMNS, prices, 0.05)
    assert (out.rows_read, out.rows_quarantined) == (6, 0)
    assert str(out.valid["ts"].dtype).endswith("UTC]")
    assert out.valid["ts"].iloc[1] == pd.Timestamp("2026-11-20 10:00:01", tz="UTC")


def test_row_breaches_are_quarantined_with_every_reason(contract, prices):
    frame = rows()
    frame.loc[0, ["latency_ms", "quality_score"]] = [0.0, -0.1]
    frame.loc[1, "ts"] = "not a time"
    frame.loc[2, "service"] = None
    out = contract.validate(frame, ROUTING_COLUMNS, prices, max_bad_row_share=0.6)
    assert list(out.valid["request_id"]) == ["r3", "r4", "r5"]
    assert dict(zip(out.rejected["request_id"], out.rejected["reason"])) == {
        "r0": "latency_ms <= 0 or > 3,600,000 (an hour), or infinite; quality_score outside [0, 1]", "r1": "ts is null", "r2": "service is null"}


def test_missing_column_is_a_batch_breach_naming_column_and_expectation(contract, prices):
    with pytest.raises(ContractBreach) as err:
        contract.validate(rows().drop(columns=["latency_ms"]), ROUTING_COLUMNS, prices, 0.05)
    assert str(err.value) == ("data contract breached: latency_ms: expect_column_to_exist failed "
                              "(column not found)")


def test_a_text_value_in_a_number_column_quarantines_its_row_and_a_text_column_is_a_breach(contract, prices):
    frame = rows(40).astype({"prompt_tokens": object})
    frame.loc[3, "prompt_tokens"] = "abc"                  # SQLite stores whatever was inserted
    frame.loc[10, "status"] = "boom"                       # the other rules still see the right rows
    out = contract.validate(frame, ROUTING_COLUMNS, prices, 0.05)
    assert (out.rows_read, out.rows_quarantined) == (40, 2)
    assert dict(zip(out.rejected["request_id"], out.rejected["reason"])) == {
        "r3": "prompt_tokens is not a number", "r10": "status not in {ok, error, timeout}"}
    assert out.rejected["prompt_tokens"].tolist() == ["abc", 100]       # kept as read
    assert out.valid["prompt_tokens"].sum() == 38 * 100
    frame["prompt_tokens"] = "many"                        # no value parses: a swapped column, not bad rows
    with pytest.raises(ContractBreach, match=r"prompt_tokens: expect_column_values_to_be_of_type\(integer\) "
                                             r"failed \(expected integer, found (object|str)\)"):
        contract.validate(frame, ROUTING_COLUMNS, prices, 0.05)


def test_rules_on_columns_beyond_the_routing_ones_are_checked_when_read(contract, prices):
    frame = rows(40).assign(temperature=0.7, ttft_ms=120.0)
    frame.loc[1, "temperature"] = 50.0
    frame.loc[2, "ttft_ms"] = -5.0
    out = contract.validate(frame, ROUTING_COLUMNS, prices, 0.10)
    assert out.reasons == {"temperature outside [0, 2]": 1, "ttft_ms < 0": 1}


def test_a_row_filed_under_another_hour_is_quarantined_not_counted(contract, prices):
    # '…10:30:00-05:00' is 15:30 UTC; SQLite compares text, so the 10:00 window reads it
    frame = rows(40)
    frame.loc[5, "ts"] = "2026-11-20 10:30:00-05:00"
    window = (pd.Timestamp("2026-11-20 10:00", tz="UTC"), pd.Timestamp("2026-11-20 11:00", tz="UTC"))
    out = contract.validate(frame, ROUTING_COLUMNS, prices, 0.05, window)
    assert out.reasons == {"ts is outside the hour it is stored under (store ts in UTC)": 1}
    assert out.rejected["ts"].tolist() == ["2026-11-20 10:30:00-05:00"]


def test_bad_row_share_over_the_limit_stops_and_keeps_the_rejected_rows(contract, prices):
    frame = rows(10)
    frame.loc[:1, "status"] = "boom"
    with pytest.raises(ContractBreach, match=r"max_bad_row_share failed .*20\.0% of rows .*> 10\.0%") as err:
        contract.validate(frame, ROUTING_COLUMNS, prices, 0.10)
    assert list(err.value.rejected["request_id"]) == ["r0", "r1"]


def test_full_contract_checks_optional_columns(contract, prices):
    frame = rows().assign(max_tokens=[256, None, 0, 256, 256, 256], temperature=0.3, ttft_ms=100.0,
                          finish_reason="stop", experiment_id=None, variant=None)
    out = contract.validate(frame, list(REQUEST_COLUMNS), prices, 0.5)
    assert dict(zip(out.rejected["request_id"], out.rejected["reason"])) == {"r2": "max_tokens < 1"}


def test_hostile_names_and_absurd_latencies_are_quarantined_by_name(contract, prices):
    """A service name that would leave the store, an empty model, infinite or absurd latency: quarantined."""
    frame = rows(9)
    frame.loc[0, "service"] = "../escaped"
    frame.loc[1, "task_type"] = "x/../../y"
    frame.loc[2, "service"] = "s'; DROP TABLE llm_requests; --"
    frame.loc[3, "model"] = ""
    frame.loc[4, "latency_ms"] = np.inf
    frame.loc[5, "latency_ms"] = 1e12
    frame.loc[6, "service"] = "поиск-ü"                 # non-ASCII letters are a safe name
    out = contract.validate(frame, ROUTING_COLUMNS, prices, max_bad_row_share=1.0)
    reasons = dict(zip(out.rejected["request_id"], out.rejected["reason"]))
    assert set(reasons) == {"r0", "r1", "r2", "r3", "r4", "r5"} and list(out.valid["request_id"]) == ["r6", "r7", "r8"]
    assert reasons["r0"].startswith("service is not a safe name") and reasons["r1"].startswith("task_type is not")
    assert reasons["r3"].startswith("model is empty")
    assert reasons["r4"] == reasons["r5"] == "latency_ms <= 0 or > 3,600,000 (an hour), or infinite"


def test_a_store_key_never_leaves_its_service_folder():
    from llmopt.domain import ConfigKeys

    assert ConfigKeys.version("поиск-ü", 3) == "поиск-ü/v000003.json"
    for bad in ("../escaped", "a/b", ".hidden", "", "x" * 129):
        with pytest.raises(ValueError, match="cannot name a config"):
            ConfigKeys.latest(bad)
