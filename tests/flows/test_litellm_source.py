"""A dry run of the hourly flow on LiteLLM s3_v2 logger objects in a folder (one request per object, named as
LiteLLM 1.106.0 names them), one of them cut short."""

from llmopt.benchmark.litellm_source import HOUR, TEMPLATE, write_objects
from llmopt.flows.hourly_optimization import hourly_optimization
from tests.conftest import WINDOW_END, WINDOW_START


def test_hourly_dry_run_reads_the_litellm_objects(tmp_path, write_settings, prefect_harness):
    assert HOUR == WINDOW_START
    folder = tmp_path / "litellm"
    write_objects(folder, 400, TEMPLATE)        # one in 50 an InternalServerError
    cut = sorted((folder / f"{HOUR:%Y-%m-%d}").iterdir())[1]
    cut.write_text(cut.read_text()[:100])
    path, _ = write_settings(source={"kind": "litellm", "path": str(folder)})
    summary = hourly_optimization(start=WINDOW_START, end=WINDOW_END, config_file=str(path), dry_run=True)
    assert summary["rows_read"] == 400
    assert list(summary["quarantine_reasons"].values()) == [1]
    assert next(iter(summary["quarantine_reasons"])).startswith("not valid JSON: ")
