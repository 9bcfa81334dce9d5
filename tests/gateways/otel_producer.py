"""Run with a Python that has the OpenTelemetry SDK, the GenAI OpenAI instrumentation and the OTLP JSON file
exporter (not llmopt's venv): make the calls of a plan through the real `openai` client, each inside a span of the
app's own that names the task, and export every span as OTLP JSON lines.
Usage: python otel_producer.py PLAN.json OUT.jsonl

The plan: {"service": ..., "base_url": ..., "calls": [{"task_type", "model", "endpoint" (ok | fail | slow),
"usage": {...} (what the fake server answers), "max_tokens", "temperature", "stream", "score" (or null)}]}.
A score is written as a `gen_ai.evaluation.result` event on the instrumented span (the instrumentation writes
none): an httpx response hook runs while that span is current and adds it through the SDK's span API.
"""

import json
import sys

import httpx
import openai
from opentelemetry import trace
from opentelemetry.exporter.otlp.json.file import FileSpanExporter
from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

plan = json.load(open(sys.argv[1]))
provider = TracerProvider(resource=Resource.create({"service.name": plan["service"]}))
processor = BatchSpanProcessor(FileSpanExporter(sys.argv[2]))
provider.add_span_processor(processor)
trace.set_tracer_provider(provider)
OpenAIInstrumentor().instrument(tracer_provider=provider)
tracer = trace.get_tracer("support-app")
pending_score: list = []


def add_evaluation(response: httpx.Response) -> None:
    """The evaluator's verdict, on the GenAI span the call is inside (gen_ai.evaluation.result event)."""
    if pending_score and pending_score[-1] is not None and response.status_code == 200:
        trace.get_current_span().add_event("gen_ai.evaluation.result", {
            "gen_ai.evaluation.name": "helpfulness", "gen_ai.evaluation.score.value": pending_score[-1],
            "gen_ai.evaluation.score.label": "pass" if pending_score[-1] >= 0.5 else "fail"})


http = httpx.Client(event_hooks={"response": [add_evaluation]})
clients = {endpoint: openai.OpenAI(base_url=f"{plan['base_url']}/{endpoint}/v1", api_key="test", max_retries=0,
                                   timeout=0.5, http_client=http) for endpoint in ("ok", "fail", "slow")}
for i, call in enumerate(plan["calls"]):
    with tracer.start_as_current_span("handle_ticket", attributes={"app.task_type": call["task_type"]}):
        with tracer.start_as_current_span("prepare_prompt"):     # a nesting level between wrapper and call
            pending_score.append(call.get("score"))
            extra = {k: call[k] for k in ("max_tokens", "temperature") if call.get(k) is not None}
            if call.get("stream"):
                extra.update(stream=True, stream_options={"include_usage": True})
            try:
                answer = clients[call["endpoint"]].chat.completions.create(
                    model=call["model"], messages=[{"role": "user", "content": json.dumps(call["usage"])}], **extra)
                if call.get("stream"):
                    list(answer)        # the span ends when the stream is read to its end
            except (openai.APIStatusError, openai.APITimeoutError) as error:
                print(f"call {i}: {type(error).__name__}", file=sys.stderr)
    if i % 3 == 2:          # several export batches: several lines, each with several spans
        processor.force_flush()
provider.shutdown()
