"""How fast the `litellm` source reads and maps s3_v2 logger objects: `rows` objects in a local folder, one hour.

`python -m llmopt.benchmark.litellm_source [ROWS] [TEMPLATE.json]` writes the objects (copies of a real
StandardLoggingPayload, `TEMPLATE.json`, with new ids and start times; or a small built-in one) and times one
`read_table` of the hour (listing, reading, DuckDB mapping to Arrow, as a run reads it).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from llmopt.extract.sources.config import SourceMapping

HOUR = datetime(2026, 11, 20, 10, tzinfo=timezone.utc)
TEMPLATE = {"id": "", "call_type": "acompletion", "status": "success", "custom_llm_provider": "openai",
            "model": "openai/gpt-4o-mini", "model_group": "assist/summarize", "response_cost": 1.35e-05,
            "prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30, "error_information": None,
            "model_parameters": {"max_tokens": 64, "temperature": 0.2, "stream": False},
            "metadata": {"requester_metadata": {}, "usage_object": {"prompt_tokens": 10, "completion_tokens": 20,
                                                                    "prompt_tokens_details": {"cached_tokens": 0}}},
            "messages": [{"role": "user", "content": "Hello there"}],
            "response": {"choices": [{"finish_reason": "stop", "message": {"content": "A summary."}}]}}


def write_objects(folder: Path, rows: int, template: dict) -> None:
    """`rows` objects named as LiteLLM names them, spread over HOUR (one error in 50)."""
    day = folder / f"{HOUR:%Y-%m-%d}"
    day.mkdir(parents=True, exist_ok=True)
    step = 3600 / rows
    for i in range(rows):
        start = HOUR + timedelta(seconds=i * step)
        payload = {**template, "id": f"chatcmpl-{i:08d}", "startTime": start.timestamp(),
                   "endTime": start.timestamp() + 0.4, "completionStartTime": start.timestamp() + 0.1}
        if i % 50 == 0:
            payload.update(status="failure", response_cost=0.0,
                           error_information={"error_class": "InternalServerError"})
        (day / f"time-{start:%H-%M-%S-%f}_{payload['id']}.json").write_text(json.dumps(payload))


def bench(rows: int = 100_000, template: dict | None = None) -> dict:
    """Rows read and mapped per second (one window, local folder); returns the figures."""
    from llmopt.extract.sources.litellm import PRESENT, LitellmObjects

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "litellm"
        write_objects(folder, rows, template or TEMPLATE)
        source = LitellmObjects(str(folder), SourceMapping())
        clock = time.perf_counter()
        table = source.read_table(HOUR, HOUR + timedelta(hours=1), PRESENT)    # what a run's engine reads
        seconds = time.perf_counter() - clock
    assert table.num_rows == rows, (table.num_rows, rows)
    return {"rows": rows, "seconds": round(seconds, 3), "rows_per_second": round(rows / seconds)}


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    given = json.loads(Path(sys.argv[2]).read_text()) if len(sys.argv) > 2 else None
    print(json.dumps(bench(count, given)))
