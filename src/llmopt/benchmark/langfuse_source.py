"""How fast the `langfuse` source reads and maps an `observations_v2` JSONL export: `rows` observations in one hour.

`python -m llmopt.benchmark.langfuse_source [ROWS]` writes one hourly export file (GENERATION rows in the export's
columns, one SPAN in ten, one ERROR in fifty, small input/output) and its scores file, then times one
`read_table` of the hour (listing, reading, DuckDB mapping, score join: Arrow, as a run reads it) and reports the
peak RSS of the process.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from llmopt.extract.sources.config import SourceMapping

HOUR = datetime(2026, 11, 20, 10, tzinfo=timezone.utc)
TEMPLATE = {"id": "", "trace_id": "", "start_time": "", "end_time": "", "project_id": "proj-1",
            "parent_observation_id": "", "type": "GENERATION", "name": "chat", "level": "DEFAULT",
            "status_message": "", "version": "", "environment": "production", "bookmarked": False, "public": False,
            "user_id": "u-1", "session_id": "", "is_root_observation": False, "completion_start_time": None,
            "created_at": "", "updated_at": "", "input": '{"messages":[{"role":"user","content":"Summarize this"}]}',
            "output": '"A summary."', "metadata": {"service": "support", "task_type": "summarize"},
            "provided_model_name": "gpt-4o-mini", "model_id": "", "model_parameters": '{"max_tokens":"64"}',
            "usage_details": {"input": "120", "input_cached_tokens": "20", "output": "40", "total": "180"},
            "cost_details": {"input": 1.8e-05, "output": 2.4e-05, "total": 4.2e-05}, "total_cost": 4.2e-05,
            "usage_pricing_tier_id": None, "usage_pricing_tier_name": None, "prompt_id": "", "prompt_name": "",
            "prompt_version": None, "latency": 0.4, "time_to_first_token": 0.1, "tags": ["task=summarize"],
            "release": "", "trace_name": "support-bot", "tool_definitions": {}, "tool_calls": [],
            "tool_call_names": [], "input_price": None, "output_price": None, "total_price": None}


def write_export(folder: Path, rows: int) -> int:
    """One export run's observations_v2 and scores files for HOUR; returns the GENERATION rows written."""
    (folder / "proj-1" / "observations_v2").mkdir(parents=True)
    (folder / "proj-1" / "scores").mkdir(parents=True)
    step, generations = 3600 / rows, 0
    name = f"{HOUR + timedelta(hours=1):%Y-%m-%dT%H-%M-%S}.jsonl"
    with open(folder / "proj-1" / "observations_v2" / name, "w") as out, \
            open(folder / "proj-1" / "scores" / name, "w") as scores:
        for i in range(rows):
            start = HOUR + timedelta(seconds=i * step)
            stamp = f"{start:%Y-%m-%d %H:%M:%S.%f}"
            row = {**TEMPLATE, "id": f"obs-{i:08d}", "trace_id": f"tr-{i // 2:08d}", "start_time": stamp,
                   "end_time": stamp, "created_at": stamp, "updated_at": stamp}
            if i % 10 == 9:
                row["type"] = "SPAN"
            else:
                generations += 1
            if i % 50 == 0:
                row.update(level="ERROR", status_message="upstream 500")
            out.write(json.dumps(row) + "\n")
            if i % 4 == 0:
                scores.write(json.dumps({"id": f"sc-{i}", "timestamp": stamp, "trace_id": row["trace_id"],
                                         "observation_id": row["id"], "name": "quality", "value": 0.8,
                                         "data_type": "NUMERIC", "source": "API"}) + "\n")
    return generations


def bench(rows: int = 1_000_000) -> dict:
    """Observations read and mapped per second (one window, local folder), and the peak RSS; returns the figures."""
    from llmopt.extract.sources.langfuse import COLUMNS, LangfuseExport

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "langfuse"
        generations = write_export(folder, rows)
        size = sum(f.stat().st_size for f in folder.rglob("*.jsonl"))
        source = LangfuseExport(str(folder), "seconds", SourceMapping(quality={"score": "quality"}))
        clock, cpu = time.perf_counter(), time.process_time()
        table = source.read_table(HOUR, HOUR + timedelta(hours=1), list(COLUMNS))    # what a run's engine reads
        seconds, cpu_seconds = time.perf_counter() - clock, time.process_time() - cpu
    assert table.num_rows == generations, (table.num_rows, generations)
    return {"observations": rows, "generations": generations, "file_mb": round(size / 1e6),
            "seconds": round(seconds, 2), "cpu_seconds": round(cpu_seconds, 2),
            "observations_per_second": round(rows / seconds),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


if __name__ == "__main__":
    print(json.dumps(bench(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)))
