"""One behaviour, every source: windows are half-open on ts, only the asked columns come back, and a late row
changes the fingerprint of the window it lands in."""

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from llmopt.extract.synthetic import generate_requests
from llmopt.resources import open_resources
from tests.unit.extract.sources.parity_writers import (otel_request_id, write_langfuse_export, write_litellm_objects,
                                                       write_otel_lines)

START = datetime(2026, 11, 20, 10, tzinfo=timezone.utc)
END = START + timedelta(hours=1)
ASKED = ["request_id", "ts", "model", "latency_ms", "status"]
EXTRA = {"source_file", "mapping_reason"}      # lineage a source may add


def world(prices, n: int, seed: int) -> pd.DataFrame:
    frame = generate_requests(n, hours=1, seed=seed, end=END, prices=prices)
    frame["ts"] = frame["ts"].dt.floor("us")
    frame.loc[frame["status"] != "ok", "cost_usd"] = np.nan
    # a row exactly on each edge: START belongs to the window, END to the next one
    edges = frame.head(2).assign(request_id=["edge-start", "edge-end"], ts=[pd.Timestamp(START), pd.Timestamp(END)])
    return pd.concat([frame, edges], ignore_index=True)


def write(kind: str, frame: pd.DataFrame, tmp_path, res_settings):
    if kind == "sql":
        open_resources(res_settings).request_log.append(frame)
    elif kind == "lake":
        for hour, rows in frame.groupby(frame["ts"].dt.floor("h")):
            folder = tmp_path / "lake" / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}"
            folder.mkdir(parents=True, exist_ok=True)
            rows.to_parquet(folder / f"part-{len(list(folder.iterdir()))}.parquet", index=False)
    elif kind == "litellm":
        write_litellm_objects(frame, tmp_path / "litellm")
    elif kind == "otel":        # one more export file per write, as a rotating file exporter adds them
        (tmp_path / "otel").mkdir(exist_ok=True)
        write_otel_lines(frame, tmp_path / "otel" / f"spans-{len(list((tmp_path / 'otel').iterdir()))}.jsonl")
    else:
        write_langfuse_export(frame, tmp_path / "langfuse")


SOURCES = {"sql": None, "lake": {"kind": "lake", "path": "lake"}, "litellm": {"kind": "litellm", "path": "litellm"},
           "langfuse": {"kind": "langfuse", "path": "langfuse"}, "otel": {"kind": "otel", "path": "otel"}}


def ids(kind: str, rows: pd.DataFrame) -> list[str]:
    """The request ids the source gives `rows` (OTel's are `<traceId>:<spanId>`, from each row's index)."""
    return [otel_request_id(i) for i in rows.index] if kind == "otel" else list(rows["request_id"])


@pytest.mark.parametrize("kind", list(SOURCES))
def test_half_open_windows_asked_columns_and_late_rows(kind, write_settings, prices, tmp_path):
    source = SOURCES[kind]
    overrides = {} if source is None else {"source": {**source, "path": str(tmp_path / source["path"])}}
    _, settings = write_settings(**overrides)
    frame = world(prices, 200, seed=8)
    write(kind, frame, tmp_path, settings)
    src = open_resources(settings).request_source
    got = src.read_partition(START, END, ASKED)
    assert set(got.columns) - EXTRA == set(ASKED)
    inside = frame[(frame["ts"] >= START) & (frame["ts"] < END)]
    assert sorted(got["request_id"]) == sorted(ids(kind, inside))            # edge-start in, edge-end out
    edge_start, edge_end = ids(kind, frame[frame["request_id"].isin(["edge-start", "edge-end"])])
    assert edge_start in set(got["request_id"]) and edge_end not in set(got["request_id"])

    windows = [(START, END), (END, END + timedelta(hours=1))]
    before = src.fingerprints(windows)
    late = frame.head(1).assign(request_id="late-1", ts=pd.Timestamp(START + timedelta(minutes=30)))
    late.index = [10_000]
    if kind == "langfuse":      # an export run writes a new file for the rows it found: the late row's own run
        late_folder = tmp_path / "late"
        write_langfuse_export(late, late_folder)
        for f in (late_folder / "proj-1" / "observations_v2").iterdir():
            f.rename(tmp_path / "langfuse" / "proj-1" / "observations_v2" / f.name.replace("T11-00-00", "T10-59-59"))
    else:
        write(kind, late, tmp_path, settings)
    after = src.fingerprints(windows)
    assert after[0] != before[0]
    assert ids(kind, late)[0] in set(src.read_partition(START, END, ASKED)["request_id"])
