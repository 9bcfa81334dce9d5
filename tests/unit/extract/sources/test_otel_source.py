"""The otel source on hand-built OTLP JSON lines: the deprecated attribute names, bad input, windows, mappings."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from llmopt.extract.sources.config import OtelSource
from llmopt.extract.sources.mapping import MappingError
from llmopt.extract.sources.otel import OtelRequestLog

T0 = datetime(2026, 11, 20, 10, tzinfo=timezone.utc)
NS = int(T0.timestamp()) * 10**9
ALL = ["request_id", "ts", "service", "task_type", "provider", "model", "prompt_tokens", "completion_tokens",
       "cached_tokens", "latency_ms", "status", "finish_reason", "quality_score", "max_tokens", "temperature"]


def value(v):
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}         # OTLP JSON: int64 as a string
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, list):
        return {"arrayValue": {"values": [value(x) for x in v]}}
    return {"stringValue": v}


def span(trace, span_id, parent, start_s, ms, attrs, events=(), status=None):
    out = {"traceId": trace, "spanId": span_id, "name": "s", "kind": 3,
           "startTimeUnixNano": str(NS + int(start_s * 1e9)),
           "endTimeUnixNano": str(NS + int(start_s * 1e9) + int(ms * 1e6)),
           "attributes": [{"key": k, "value": value(v)} for k, v in attrs.items()],
           "events": [{"timeUnixNano": str(NS), "name": "gen_ai.evaluation.result",
                       "attributes": [{"key": "gen_ai.evaluation.name", "value": value(n)},
                                      {"key": "gen_ai.evaluation.score.value", "value": value(x)}]}
                      for n, x in events],
           "status": status or {}}
    if parent:
        out["parentSpanId"] = parent
    return out


def line(*spans, service="support-bot"):
    return json.dumps({"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": value(service)}]}, "scopeSpans": [{"scope": {"name": "x"},
                                                                               "spans": list(spans)}]}]})


def wrapper(trace, span_id, task, start_s=0.0):
    return span(trace, span_id, None, start_s, 900, {"app.task_type": task})


# The older names, from open-telemetry/semantic-conventions model/gen-ai/deprecated/registry-deprecated.yaml
# (commit 055b333b): gen_ai.system (→ gen_ai.provider.name), gen_ai.usage.prompt_tokens (→ …input_tokens),
# gen_ai.usage.completion_tokens (→ …output_tokens).
OLD = {"gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o",
       "gen_ai.usage.prompt_tokens": 321, "gen_ai.usage.completion_tokens": 45,
       "gen_ai.response.finish_reasons": ["stop"], "gen_ai.request.max_tokens": 64}
NEW = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
       "gen_ai.usage.input_tokens": 321, "gen_ai.usage.output_tokens": 45,
       "gen_ai.response.finish_reasons": ["stop"], "gen_ai.request.max_tokens": 64}


def read(folder, start=T0, end=T0 + timedelta(hours=1), **mapping):
    source = OtelRequestLog(str(folder), OtelSource(path=str(folder), mapping=mapping).mapping)
    return source, source.read_partition(start, end, ALL + ["experiment_id", "variant"])


def test_the_deprecated_names_map_as_the_current_ones(tmp_path):
    (tmp_path / "old.jsonl").write_text(line(span("a" * 32, "1" * 16, "2" * 16, 1, 250, OLD, [("q", 0.5)]),
                                             wrapper("a" * 32, "2" * 16, "triage")) + "\n")
    (tmp_path / "new.jsonl").write_text(line(span("b" * 32, "1" * 16, "2" * 16, 1, 250, NEW, [("q", 0.5)]),
                                             wrapper("b" * 32, "2" * 16, "triage")) + "\n")
    _, frame = read(tmp_path)
    rows = frame.drop(columns=["request_id", "source_file"]).astype(object).to_dict("records")
    rows = [{k: None if v != v else v for k, v in r.items()} for r in rows]       # NaN → None, to compare
    assert len(rows) == 2 and rows[0] == rows[1]
    assert {k: rows[0][k] for k in ("provider", "model", "prompt_tokens", "completion_tokens", "finish_reason",
                                    "max_tokens", "task_type", "service", "latency_ms", "status",
                                    "quality_score")} == {
        "provider": "openai", "model": "gpt-4o", "prompt_tokens": 321, "completion_tokens": 45,
        "finish_reason": "stop", "max_tokens": 64, "task_type": "triage", "service": "support-bot",
        "latency_ms": 250.0, "status": "ok", "quality_score": 0.5}


def test_bad_input_is_quarantined_or_skipped_with_reasons(tmp_path):
    no_model = {k: v for k, v in NEW.items() if k != "gen_ai.request.model"}
    good = line(span("c" * 32, "1" * 16, "9" * 16, 5, 100, NEW), wrapper("c" * 32, "9" * 16, "triage"))
    lines = [good, line(span("d" * 32, "1" * 16, "9" * 16, 6, 100, no_model), wrapper("d" * 32, "9" * 16, "t")),
             good.replace("c" * 32, "e" * 32)[:500],                         # truncated: a crash mid-write
             line(span("f" * 32, "1" * 16, None, 7, 100, NEW)),              # no wrapper: no task_type
             json.dumps({"resourceLogs": []}),                                # a log export in the same file
             line(span("f" * 32, "2" * 16, None, 8, 100, {"gen_ai.operation.name": "execute_tool"})),
             good.replace("c" * 32, "0" * 32)[:200]]                          # the line being written now
    (tmp_path / "spans.jsonl").write_text("\n".join(lines))                   # no newline after the last line
    (tmp_path / "litellm.json").write_text(json.dumps({"id": "x", "model": "gpt-4o"}))   # another format
    (tmp_path / "table.csv").write_text("a,b\n1,2\n")                         # not listed at all
    source, frame = read(tmp_path)
    reason = frame["mapping_reason"].astype(object).where(frame["mapping_reason"].notna(), None)
    assert dict(zip(frame["request_id"].fillna("-"), reason)) == {
        "c" * 32 + ":" + "1" * 16: None,
        "d" * 32 + ":" + "1" * 16: "model not found in the span (no gen_ai.request.model or gen_ai.response.model)",
        "-": f"{tmp_path / 'spans.jsonl'}: line 3 is not valid JSON (a truncated or partly written export?)",
        "f" * 32 + ":" + "1" * 16: "task_type not found in the record (tried 'ancestor:app.task_type')"}
    assert frame.loc[frame["request_id"].isna(), "ts"].iloc[0] == frame["ts"].min()   # the broken line's own start
    assert source.notes == {"files without OTLP spans skipped (litellm.json)": 1, "lines_without_spans": 1,
                            "unfinished_lines": 1, "spans without gen_ai.* attributes (not requests)": 2,
                            "GenAI spans of other operations (agents, tools; not requests)": 1}


def test_windows_are_half_open_and_fingerprints_follow_the_files(tmp_path):
    f = tmp_path / "spans.jsonl"
    f.write_text(line(span("a" * 32, "1" * 16, None, 0, 10, NEW), span("a" * 32, "2" * 16, None, 3600, 10, NEW),
                      span("a" * 32, "3" * 16, None, 3599.5, 10, NEW)) + "\n")
    source, frame = read(tmp_path, task_type="const:chat")
    assert sorted(frame["request_id"].str[-1]) == ["1", "3"]             # 10:00:00 in, 11:00:00 out
    windows = [(T0, T0 + timedelta(hours=1)), (T0 + timedelta(hours=1), T0 + timedelta(hours=2))]
    assert source.row_counts(windows) == [2, 1]
    before = source.fingerprints(windows)
    f.write_text(f.read_text() + line(span("b" * 32, "1" * 16, None, 4000, 10, NEW)) + "\n")
    assert source.row_counts(windows) == [2, 2]
    after = source.fingerprints(windows)
    assert before[0] != after[0] and before[1] != after[1]       # no time in the names: every window changes


def test_mapping_specs_and_the_named_score(tmp_path):
    attrs = {**NEW, "app.variant": "b"}
    (tmp_path / "s.jsonl").write_text(line(
        span("a" * 32, "1" * 16, "2" * 16, 1, 10, attrs, [("helpfulness", 0.25), ("faithfulness", 0.75)]),
        span("a" * 32, "2" * 16, "3" * 16, 0, 900, {"app.experiment": "exp-7"}),
        wrapper("a" * 32, "3" * 16, "triage"), service="svc-from-resource") + "\n")
    _, frame = read(tmp_path, experiment_id="ancestor:app.experiment", variant="attr:app.variant",
                    service="const:billing", quality={"score": "faithfulness"})
    got = frame.iloc[0]
    assert (got["service"], got["task_type"], got["experiment_id"], got["variant"], got["quality_score"]) == \
        ("billing", "triage", "exp-7", "b", 0.75)
    _, unnamed = read(tmp_path)
    assert unnamed["quality_score"].isna().all() and unnamed["service"].iloc[0] == "svc-from-resource"
    with pytest.raises(MappingError, match="otel source reads"):
        read(tmp_path, task_type="tag:task=")
