"""The otel source on what the real producer writes: the OpenAI GenAI instrumentation (opentelemetry-sdk 1.45.2,
opentelemetry-instrumentation-genai-openai 1.3b0) around the `openai` client, calling a fake OpenAI server on
127.0.0.1, exported by opentelemetry-exporter-otlp-json-file 0.66b1 (see tests/otel_genai.py)."""

import json
from datetime import timedelta

import pandas as pd
import pytest

from llmopt.extract.sources import open_request_source
from llmopt.resources import open_resources
from llmopt.rollup.lookback import rollup_partition
from llmopt.rollup.partition import Partition
from tests.otel_genai import produce_spans


def usage(prompt, completion, cached, response_id, **extra):
    return {"prompt_tokens": prompt, "completion_tokens": completion, "cached_tokens": cached, "id": response_id,
            **extra}


PLAN = {"service": "support-bot", "calls": [
    {"task_type": "summarize", "model": "gpt-4o-mini", "endpoint": "ok", "max_tokens": 256, "temperature": 0.2,
     "score": 0.75, "usage": usage(1200, 180, 1024, "chatcmpl-1", model="gpt-4o-mini-2024-07-18")},
    {"task_type": "classify", "model": "gpt-4o", "endpoint": "ok", "max_tokens": 16, "temperature": 0.0,
     "score": 1.0, "usage": usage(400, 3, 256, "chatcmpl-2", finish_reason="length")},
    {"task_type": "summarize", "model": "gpt-4o-mini", "endpoint": "ok", "stream": True, "score": 0.5,
     "usage": usage(900, 120, 512, "chatcmpl-3")},
    {"task_type": "classify", "model": "gpt-4o", "endpoint": "fail", "score": None, "usage": {}},
    {"task_type": "extract", "model": "gpt-4o-mini", "endpoint": "slow", "score": None,
     "usage": usage(10, 1, 0, "chatcmpl-5")},
]}


def chat_spans(path) -> list[dict]:
    """The instrumentation's spans in the file, in call order (read with json, independently of the source)."""
    spans = [s for line in path.read_text().splitlines() for rs in json.loads(line)["resourceSpans"]
             for ss in rs["scopeSpans"] if ss["scope"]["name"].startswith("opentelemetry.instrumentation")
             for s in ss["spans"]]
    return sorted(spans, key=lambda s: int(s["startTimeUnixNano"]))


def attr(span, key):
    return next((a["value"] for a in span["attributes"] if a["key"] == key), None)


@pytest.fixture(scope="module")
def exported(otel_python, tmp_path_factory):
    folder = tmp_path_factory.mktemp("otel-export")
    stderr = produce_spans(otel_python, PLAN, folder / "spans.jsonl")
    assert "call 3: InternalServerError" in stderr and "call 4: APITimeoutError" in stderr
    (folder / "notes.csv").write_text("a,b\n1,2\n")          # another format beside it: not listed
    return folder


def test_real_producer_spans_map_to_the_contract(exported, write_settings):
    spans = chat_spans(exported / "spans.jsonl")
    assert len(spans) == 5
    # what the real exporter wrote, as the issue describes it
    assert attr(spans[0], "gen_ai.usage.input_tokens") == {"intValue": "1200"}
    assert attr(spans[0], "gen_ai.usage.cache_read.input_tokens") == {"intValue": "1024"}
    assert attr(spans[2], "gen_ai.response.time_to_first_chunk") is not None
    _, settings = write_settings(source={"kind": "otel", "path": str(exported)})
    source = open_request_source(settings)
    start = pd.Timestamp(int(spans[0]["startTimeUnixNano"]), tz="UTC").floor("h")
    end = pd.Timestamp(int(spans[-1]["startTimeUnixNano"]), tz="UTC").ceil("h") + timedelta(hours=1)
    frame = source.read_partition(start, end, source.present_columns()).sort_values("ts", ignore_index=True)

    assert list(frame["request_id"]) == [f"{s['traceId']}:{s['spanId']}" for s in spans]
    assert list(frame["ts"]) == [pd.Timestamp(int(s["startTimeUnixNano"]), tz="UTC") for s in spans]
    assert list(frame["latency_ms"]) == pytest.approx(
        [(int(s["endTimeUnixNano"]) - int(s["startTimeUnixNano"])) / 1e6 for s in spans], abs=1e-6)
    assert list(frame["service"]) == ["support-bot"] * 5
    assert list(frame["task_type"]) == ["summarize", "classify", "summarize", "classify", "extract"]   # ancestor
    assert list(frame["provider"]) == ["openai"] * 5
    assert list(frame["model"]) == ["gpt-4o-mini", "gpt-4o", "gpt-4o-mini", "gpt-4o", "gpt-4o-mini"]
    assert list(frame["status"]) == ["ok", "ok", "ok", "error", "timeout"]
    assert list(frame["prompt_tokens"]) == [1200, 400, 900, 0, 0]          # a failed call reported no usage
    assert list(frame["completion_tokens"]) == [180, 3, 120, 0, 0]
    assert frame["cached_tokens"].tolist()[:3] == [1024, 256, 512] and frame["cached_tokens"][3:].isna().all()
    assert frame["max_tokens"].tolist()[:2] == [256, 16] and frame["max_tokens"][2:].isna().all()
    assert frame["temperature"].tolist()[:2] == [0.2, 0.0]
    assert frame["finish_reason"].tolist()[:3] == ["stop", "length", "stop"]
    assert frame["quality_score"].tolist()[:3] == [0.75, 1.0, 0.5] and frame["quality_score"][3:].isna().all()
    ttft = attr(spans[2], "gen_ai.response.time_to_first_chunk")["doubleValue"] * 1000
    assert frame["ttft_ms"][2] == pytest.approx(ttft, abs=1e-9) and 0 < ttft < frame["latency_ms"][2]
    assert frame["ttft_ms"].drop(index=2).isna().all()
    assert frame["mapping_reason"].isna().all()
    assert set(frame["source_file"]) == {str(exported / "spans.jsonl")}
    assert source.notes == {"spans without gen_ai.* attributes (not requests)": 10,     # the app's own spans
                            "files without OTLP spans skipped (spans.plan.json)": 1}   # the producer's plan


def test_rollup_of_the_real_export_counts_every_request(exported, write_settings):
    spans = chat_spans(exported / "spans.jsonl")
    _, settings = write_settings(source={"kind": "otel", "path": str(exported)})
    res = open_resources(settings)
    start = pd.Timestamp(int(spans[0]["startTimeUnixNano"]), tz="UTC").floor("h").to_pydatetime()
    partition = Partition(start - timedelta(hours=1), start + timedelta(hours=2))
    rollup = rollup_partition(res, partition, res.request_source.fingerprints([(partition.start, partition.end)])[0])
    assert (rollup.rows_read, rollup.rows_quarantined, rollup.rows_valid) == (5, 0, 5)
