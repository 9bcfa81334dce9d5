"""Parity: one world written natively and the way LiteLLM, Langfuse and OpenTelemetry write it reads to the same evidence —
the same cells (counts, errors, timeouts, scored, quality and cost sums, tokens, latency quantiles) through each
source's real partition step, so every decision made on them is the same."""

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from llmopt.extract.synthetic import generate_requests
from llmopt.resources import open_resources
from llmopt.rollup.lookback import rollup_partition
from llmopt.rollup.partition import CELL_KEYS, Partition
from tests.unit.extract.sources.parity_writers import write_langfuse_export, write_litellm_objects, write_otel_lines

END = datetime(2026, 11, 20, 11, tzinfo=timezone.utc)
HOUR = Partition(END - timedelta(hours=1), END)
EXACT = ["requests", "production_requests", "errors", "timeouts", "scored", "prompt_tokens", "completion_tokens"]


@pytest.fixture(scope="module")
def world(prices):
    """1,500 requests in one hour; failures carry no cost (as gateways log them), microsecond timestamps."""
    frame = generate_requests(1_500, hours=1, seed=21, end=END, prices=prices)
    frame["ts"] = frame["ts"].dt.floor("us")
    frame.loc[frame["status"] != "ok", "cost_usd"] = np.nan
    return frame


def cells_of(res) -> pd.DataFrame:
    rollup = rollup_partition(res, HOUR, "fp")
    assert rollup.rows_quarantined == 0, rollup.reasons
    return rollup.cells.set_index(CELL_KEYS).sort_index()


@pytest.fixture(scope="module")
def native(world, tmp_path_factory):
    from llmopt.settings import Settings

    root = tmp_path_factory.mktemp("native")
    settings = Settings(database_url=f"sqlite:///{root}/requests.db", rollups_dir=str(root / "rollups"))
    res = open_resources(settings)
    res.request_log.append(world)
    return cells_of(res)


def compare(cells: pd.DataFrame, native: pd.DataFrame) -> None:
    assert list(cells.index) == list(native.index)
    for column in EXACT:
        assert cells[column].tolist() == native[column].tolist(), column
    for column in ("quality_sum", "quality_sum_squares", "cost_usd"):
        np.testing.assert_allclose(cells[column], native[column], rtol=1e-9, err_msg=column)


def test_litellm_objects_read_as_the_native_table(world, native, write_settings, tmp_path):
    write_litellm_objects(world, tmp_path / "litellm")
    _, settings = write_settings(source={"kind": "litellm", "path": str(tmp_path / "litellm"),
                                         "mapping": {"quality": {"score": "quality"}}})
    compare(cells_of(open_resources(settings)), native)


def test_a_langfuse_export_reads_as_the_native_table(world, native, write_settings, tmp_path):
    write_langfuse_export(world, tmp_path / "langfuse")
    _, settings = write_settings(source={"kind": "langfuse", "path": str(tmp_path / "langfuse"),
                                         "mapping": {"quality": {"score": "quality"}}})
    compare(cells_of(open_resources(settings)), native)


def test_otlp_json_lines_read_as_the_native_table(world, native, write_settings, tmp_path):
    (tmp_path / "otel").mkdir()
    write_otel_lines(world, tmp_path / "otel" / "spans.jsonl")
    _, settings = write_settings(source={"kind": "otel", "path": str(tmp_path / "otel"),
                                         "mapping": {"quality": {"score": "quality"}}})
    compare(cells_of(open_resources(settings)), native)
