"""A dry run of the hourly flow on OTLP JSON lines (the real producer's spans, cycled), one line cut short."""

from llmopt.benchmark.otel_spans import write_otel_spans
from llmopt.flows.hourly_optimization import hourly_optimization
from tests.conftest import WINDOW_END, WINDOW_START


def test_hourly_dry_run_reads_the_otel_spans(tmp_path, write_settings, prefect_harness):
    folder = tmp_path / "otel"
    assert write_otel_spans(folder, 600, WINDOW_START, hours=0.9) == 600       # one request span per trace
    spans = folder / "spans-0.jsonl"
    lines = spans.read_text().splitlines()
    spans.write_text("\n".join(lines[:2] + [lines[2][:5000]] + lines[2:]) + "\n")   # a crash cut one export
    path, _ = write_settings(source={"kind": "otel", "path": str(folder)})
    summary = hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path), dry_run=True)
    assert summary["rows_read"] == 601
    assert list(summary["quarantine_reasons"].values()) == [1]
    assert next(iter(summary["quarantine_reasons"])).endswith(
        "spans-0.jsonl: line 3 is not valid JSON (a truncated or partly written export?)")
