"""One world of requests (contract columns) written the way each producer writes it, for the parity tests.

LiteLLM: one StandardLoggingPayload object per request, named `YYYY-MM-DD/time-HH-MM-SS-ffffff_<id>.json` after
its start (as `integrations/s3.py::get_s3_object_key` in LiteLLM 1.106.0 names it), llmopt's alias
`<service>/<task_type>` as `model_group`, quality in the request's `requester_metadata`. Langfuse: one hourly
`observations_v2` JSONL export and its `scores` file, named by the run's max timestamp (the layout of
`handleBlobStorageIntegrationProjectJob.ts`). OpenTelemetry: OTLP JSON lines as `opentelemetry-exporter-otlp-json-file`
writes them (the shape of `llmopt/data/otel_genai_openai_spans.json`, recorded from the real SDK): per request a
`chat` span with the GenAI attributes (semantic-conventions `model/gen-ai/registry.yaml`) under an app span that
carries `app.task_type`, the service as the resource's `service.name`, quality as a `gen_ai.evaluation.result` event.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


def _f(value):
    return None if pd.isna(value) else value


def write_litellm_objects(frame: pd.DataFrame, folder: Path) -> None:
    """Each row as the s3_v2 logger's object (failures with no cost, as LiteLLM logs them)."""
    for r in frame.to_dict("records"):
        start, ok = r["ts"].timestamp(), r["status"] == "ok"
        error = None if ok else {"error_class": "Timeout" if r["status"] == "timeout" else "InternalServerError"}
        payload = {
            "id": r["request_id"], "call_type": "acompletion", "status": "success" if ok else "failure",
            "startTime": start, "endTime": start + r["latency_ms"] / 1000,
            "completionStartTime": start + r["ttft_ms"] / 1000 if ok and not pd.isna(r["ttft_ms"]) else None,
            "custom_llm_provider": r["provider"], "model": r["model"], "model_group": f"{r['service']}/{r['task_type']}",
            "response_cost": _f(r["cost_usd"]) if ok else None, "error_information": error,
            "prompt_tokens": int(r["prompt_tokens"]), "completion_tokens": int(r["completion_tokens"]),
            "model_parameters": {"max_tokens": int(r["max_tokens"]), "temperature": float(r["temperature"])},
            "metadata": {"requester_metadata": {"quality": _f(r["quality_score"])},
                         "usage_object": {"prompt_tokens": int(r["prompt_tokens"]),
                                          "completion_tokens": int(r["completion_tokens"]),
                                          "prompt_tokens_details": {"cached_tokens": int(r["cached_tokens"])}}},
            "response": {"choices": [{"finish_reason": r["finish_reason"]}]} if ok else None}
        day = folder / f"{r['ts']:%Y-%m-%d}"
        day.mkdir(parents=True, exist_ok=True)
        (day / f"time-{r['ts']:%H-%M-%S-%f}_{r['request_id']}.json").write_text(json.dumps(payload))


def write_langfuse_export(frame: pd.DataFrame, folder: Path) -> None:
    """Each hour's rows as one `observations_v2` JSONL file and its `scores` file."""
    obs, scores = folder / "proj-1" / "observations_v2", folder / "proj-1" / "scores"
    obs.mkdir(parents=True, exist_ok=True)
    scores.mkdir(parents=True, exist_ok=True)
    for hour, rows in frame.groupby(frame["ts"].dt.floor("h")):
        name = f"{hour + pd.Timedelta(hours=1):%Y-%m-%dT%H-%M-%S}.jsonl"
        with open(obs / name, "w") as out, open(scores / name, "w") as score_out:
            for r in rows.to_dict("records"):
                stamp = f"{r['ts']:%Y-%m-%d %H:%M:%S.%f}"
                ok = r["status"] == "ok"
                cached = int(r["cached_tokens"])
                out.write(json.dumps({
                    "id": r["request_id"], "trace_id": "tr-" + r["request_id"], "project_id": "proj-1",
                    "type": "GENERATION", "name": "chat", "start_time": stamp, "end_time": stamp,
                    "level": "DEFAULT" if ok else "ERROR",
                    "status_message": "" if ok else ("Request timed out" if r["status"] == "timeout" else "500"),
                    "provided_model_name": r["model"], "model_parameters": json.dumps(
                        {"max_tokens": str(int(r["max_tokens"])), "temperature": str(r["temperature"])}),
                    "usage_details": {"input": int(r["prompt_tokens"]) - cached, "input_cached_tokens": cached,
                                      "output": int(r["completion_tokens"])},
                    "cost_details": {"total": _f(r["cost_usd"])} if ok and not pd.isna(r["cost_usd"]) else {},
                    "latency": r["latency_ms"] / 1000,
                    "time_to_first_token": r["ttft_ms"] / 1000 if ok else None,
                    "metadata": {"service": r["service"], "task_type": r["task_type"]}, "tags": []}) + "\n")
                if not pd.isna(r["quality_score"]):
                    score_out.write(json.dumps({"id": "sc-" + r["request_id"], "timestamp": stamp,
                                                "trace_id": "tr-" + r["request_id"], "observation_id": r["request_id"],
                                                "name": "quality", "value": r["quality_score"],
                                                "data_type": "NUMERIC", "source": "API"}) + "\n")


def _any(v) -> dict:
    """An OTLP JSON AnyValue (int64 as a string, as the JSON encoding writes it)."""
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, list):
        return {"arrayValue": {"values": [_any(x) for x in v]}}
    return {"stringValue": v}


def otel_request_id(i: int) -> str:
    """The request id the otel source gives the request of frame row `i` (`<traceId>:<spanId>` of its chat span)."""
    return f"{i + 1:032x}:{2 * i + 2:016x}"


def _otel_trace(r: dict, i: int) -> list[dict]:
    """One request as its app span and the instrumentation's `chat` span (failures: status 2 and `error.type`)."""
    trace, app, chat = f"{i + 1:032x}", f"{2 * i + 1:016x}", f"{2 * i + 2:016x}"
    start = int(r["ts"].value)                      # ns since the epoch
    end = start + int(round(r["latency_ms"] * 1e6))
    ok = r["status"] == "ok"
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": r["provider"], "gen_ai.request.model": r["model"],
             "gen_ai.response.model": r["model"], "gen_ai.request.max_tokens": int(r["max_tokens"]),
             "gen_ai.request.temperature": float(r["temperature"]),
             "gen_ai.usage.input_tokens": int(r["prompt_tokens"]), "gen_ai.usage.output_tokens": int(r["completion_tokens"]),
             "gen_ai.usage.cache_read.input_tokens": int(r["cached_tokens"])}
    if ok:
        attrs |= {"gen_ai.response.finish_reasons": [r["finish_reason"]]}
        if not pd.isna(r["ttft_ms"]):
            attrs["gen_ai.response.time_to_first_chunk"] = r["ttft_ms"] / 1000
    else:
        attrs["error.type"] = "openai.APITimeoutError" if r["status"] == "timeout" else "openai.InternalServerError"
    events = [] if pd.isna(r["quality_score"]) else [{"timeUnixNano": str(end), "name": "gen_ai.evaluation.result",
        "attributes": [{"key": "gen_ai.evaluation.name", "value": _any("quality")},
                       {"key": "gen_ai.evaluation.score.value", "value": _any(float(r["quality_score"]))}]}]
    span = {"traceId": trace, "spanId": chat, "parentSpanId": app, "name": f"chat {r['model']}", "kind": 3,
            "startTimeUnixNano": str(start), "endTimeUnixNano": str(end),
            "attributes": [{"key": k, "value": _any(v)} for k, v in attrs.items()], "events": events,
            "status": {} if ok else {"code": 2, "message": "failed"}}
    wrapper = {"traceId": trace, "spanId": app, "name": "handle_request", "kind": 1, "startTimeUnixNano": str(start),
               "endTimeUnixNano": str(end + 1000), "status": {},
               "attributes": [{"key": "app.task_type", "value": _any(r["task_type"])}]}
    return [span, wrapper]


def write_otel_lines(frame: pd.DataFrame, path: Path, traces_per_line: int = 150) -> None:
    """Each service's requests as OTLP JSON lines of `traces_per_line` traces (one export each)."""
    with open(path, "w") as out:
        for service, rows in frame.groupby("service", sort=True):
            records = rows.reset_index(names="row").to_dict("records")
            for at in range(0, len(records), traces_per_line):
                spans = [s for r in records[at:at + traces_per_line] for s in _otel_trace(r, int(r["row"]))]
                out.write(json.dumps({"resourceSpans": [{
                    "resource": {"attributes": [{"key": "service.name", "value": _any(service)}]},
                    "scopeSpans": [{"scope": {"name": "opentelemetry.instrumentation.genai.openai"},
                                    "spans": spans}]}]}) + "\n")
