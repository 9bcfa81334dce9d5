"""A dry run of the hourly flow on a Langfuse export (files as langfuse_export writes them)."""

from datetime import timedelta

from llmopt.flows.hourly_optimization import hourly_optimization
from tests.conftest import WINDOW_END, WINDOW_START
from tests.unit.extract.langfuse_export import observation, score, write_export


def test_hourly_dry_run_reads_the_langfuse_export(tmp_path, write_settings, prefect_harness):
    meta = {"service": "support", "task_type": "qa"}
    rows = [observation(f"g{i}", f"t{i}", WINDOW_START + timedelta(seconds=9 * i),
                        end=WINDOW_START + timedelta(seconds=9 * i + 0.5 + (i % 7) / 10), latency=0.5 + (i % 7) / 10,
                        model=("gpt-4o-mini", "gpt-4o")[i % 2], metadata=meta,
                        usage={"input": 200 + i % 50, "output": 40}, cost={"total": 0.0001})
            for i in range(400)] + [observation("span", "t0", WINDOW_START, type="SPAN", metadata=meta)]
    export = tmp_path / "export"
    write_export(export, "observations_v2", WINDOW_END, rows, "jsonl.gz")
    write_export(export, "scores", WINDOW_END, [score(f"s{i}", "quality", 0.8 + (i % 3) / 10,
                                                      WINDOW_START + timedelta(seconds=9 * i + 5),
                                                      observation_id=f"g{i}") for i in range(400)], "jsonl.gz")
    path, _ = write_settings(source={"kind": "langfuse", "path": str(export),
                                     "mapping": {"quality": {"score": "quality"}}})
    summary = hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path),
                                  dry_run=True)
    assert summary["rows_read"] == 400
    assert summary["quarantine_reasons"] == {}
