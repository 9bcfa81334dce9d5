"""OTLP JSON lines at scale, made from what the real producer wrote (`llmopt/data/otel_genai_openai_spans.json`).

The recorded traces (the OpenAI instrumentation's `chat` span inside the app's `handle_ticket > prepare_prompt`
spans, some with an evaluation event, two failed) are cycled with fresh trace and span ids and shifted times:
the bytes of every span are the real exporter's but for those fields.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from importlib.resources import files
from pathlib import Path

SAMPLE = "otel_genai_openai_spans.json"
TRACES_PER_LINE = 150           # ≈ the SDK's BatchSpanProcessor batch (512 spans) at 3 spans a trace


def recorded_lines() -> list[dict]:
    """The recorded OTLP JSON lines (each a `{"resourceSpans": [...]}` export)."""
    return json.loads(files("llmopt.data").joinpath(SAMPLE).read_text())["lines"]


def _trace_templates(lines: list[dict]) -> tuple[dict, list[dict[str, list[tuple[str, int, int, int]]]]]:
    """The resource, and per recorded trace: per scope, its spans as `str.format` templates with the trace id
    `{t}`, span ids `{s<i>}` and times `{b<i>}`/`{e<i>}` left open, with each span's index and start/end offset (ns)."""
    resource, scopes = lines[0]["resourceSpans"][0]["resource"], {}
    traces: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for line in lines:
        for rs in line["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                scopes[ss["scope"]["name"]] = ss["scope"]
                for span in ss["spans"]:
                    traces[span["traceId"]][ss["scope"]["name"]].append(span)
    first = min(int(s["startTimeUnixNano"]) for t in traces.values() for ss in t.values() for s in ss)
    templates = []
    for trace_id, by_scope in traces.items():
        ids = {s["spanId"]: i for i, s in enumerate(s for ss in by_scope.values() for s in ss)}
        per_scope = {}
        for scope, spans in by_scope.items():
            out = []
            for span in spans:
                i = ids[span["spanId"]]
                text = json.dumps(span, separators=(",", ":")).replace("{", "{{").replace("}", "}}")
                text = text.replace(trace_id, "{t}")
                for span_id, j in ids.items():
                    text = text.replace(span_id, f"{{s{j}}}")
                text = text.replace(f'"{span["startTimeUnixNano"]}"', f'"{{b{i}}}"')
                text = text.replace(f'"{span["endTimeUnixNano"]}"', f'"{{e{i}}}"')
                out.append((text, i, int(span["startTimeUnixNano"]) - first, int(span["endTimeUnixNano"]) - first))
            per_scope[scope] = out
        templates.append(per_scope)
    return {"resource": resource, "scopes": scopes}, templates


def write_otel_spans(path: Path, traces: int, start: datetime, hours: float, files_count: int = 1) -> int:
    """Write `traces` recorded traces (cycled), started evenly over `hours` from `start`, as OTLP JSON lines in
    `files_count` files `spans-<i>.jsonl` under `path`; returns the number of GenAI (request) spans written."""
    head, templates = _trace_templates(recorded_lines())
    resource = json.dumps(head["resource"], separators=(",", ":"))
    scope_json = {name: json.dumps(s, separators=(",", ":")) for name, s in head["scopes"].items()}
    requests_per_cycle = sum(1 for t in templates for name in t if name != "support-app" for _ in t[name])
    step_ns = int(hours * 3600e9 / traces)
    start_ns = int(start.timestamp() * 1e9)
    path.mkdir(parents=True, exist_ok=True)
    per_file = -(-traces // files_count)
    written = 0
    for f in range(files_count):
        with open(path / f"spans-{f}.jsonl", "w") as out:
            for line_start in range(f * per_file, min(traces, (f + 1) * per_file), TRACES_PER_LINE):
                by_scope: dict[str, list[str]] = defaultdict(list)
                for n in range(line_start, min(traces, (f + 1) * per_file, line_start + TRACES_PER_LINE)):
                    template = templates[n % len(templates)]
                    base = start_ns + n * step_ns
                    count = sum(len(v) for v in template.values())
                    fields = {"t": f"{n + 1:032x}", **{f"s{i}": f"{n * 8 + i + 1:016x}" for i in range(count)}}
                    for scope, spans in template.items():
                        for _, i, b, e in spans:
                            fields[f"b{i}"], fields[f"e{i}"] = base + b, base + e
                    for scope, spans in template.items():
                        by_scope[scope].extend(text.format(**fields) for text, *_ in spans)
                scope_spans = ",".join(f'{{"scope":{scope_json[s]},"spans":[{",".join(v)}]}}'
                                       for s, v in by_scope.items())
                out.write(f'{{"resourceSpans":[{{"resource":{resource},"scopeSpans":[{scope_spans}]}}]}}\n')
    written = (traces // len(templates)) * requests_per_cycle + sum(
        1 for t in templates[:traces % len(templates)] for name in t if name != "support-app" for _ in t[name])
    return written


BENCH_START = datetime(2026, 11, 20, tzinfo=timezone.utc)


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as status:       # VmHWM: the process's peak resident set
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024


def bench_otel_read(root: Path, traces: int = 1_000_000, hours: int = 4, files_count: int = 16) -> dict:
    """Read + map `traces` recorded traces (one GenAI request span and two app spans each) with the otel source:
    every window of `hours` counted and read, as a run's lookback does. Files are written under `root` once
    (`files_count` of them: a Collector `file` exporter with `rotation` keeps files at ~100 MB).

    Returns:
        rows (requests mapped), spans, bytes, seconds, rows_per_s, spans_per_s, peak_rss_mb.
    """
    from llmopt.extract.sources.config import SourceMapping
    from llmopt.extract.sources.otel import OtelRequestLog

    folder = root / f"otel-{traces}-{files_count}"
    if not (folder / "spans-0.jsonl").exists():
        write_otel_spans(folder, traces, BENCH_START, hours, files_count)
    size = sum(f.stat().st_size for f in folder.glob("*.jsonl"))
    spans_per_trace = sum(len(ss["spans"]) for line in recorded_lines() for rs in line["resourceSpans"]
                          for ss in rs["scopeSpans"]) / len(_trace_templates(recorded_lines())[1])
    windows = [(BENCH_START + timedelta(hours=h), BENCH_START + timedelta(hours=h + 1)) for h in range(hours + 1)]   # the last traces end past `hours`
    clock = time.perf_counter()
    source = OtelRequestLog(str(folder), SourceMapping())
    counts = source.row_counts(windows)
    frames = [source.read_partition(s, e, source.present_columns()) for s, e in windows]
    seconds = time.perf_counter() - clock
    rows = sum(len(f) for f in frames)
    assert rows == sum(counts), (rows, counts)
    return {"rows": rows, "spans": int(traces * spans_per_trace), "bytes": size, "seconds": round(seconds, 2),
            "rows_per_s": round(rows / seconds), "spans_per_s": round(traces * spans_per_trace / seconds),
            "peak_rss_mb": round(_peak_rss_mb())}


def bench(rows: int = 1_000_000) -> dict:
    """`llmopt bench sources --format otel`: `rows` recorded traces in a temporary folder, read and mapped."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return bench_otel_read(Path(tmp), rows)
