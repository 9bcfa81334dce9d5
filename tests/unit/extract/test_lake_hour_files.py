"""An hour's Parquet file whose own statistics put every row inside the partition is read whole (no filter, no
copy); any other file is cut by the window. Either way each row is read by exactly its own partition."""

from datetime import datetime, timedelta, timezone

import pandas as pd
import pyarrow.dataset as ds

from llmopt.extract.lake_source import LakeRequestLog, _hive_filter, _inside_by_statistics

HOUR = datetime(2026, 11, 20, 10, tzinfo=timezone.utc)


def _write(folder, name, stamps):
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame({"request_id": [f"{name}-{i}" for i in range(len(stamps))],
                          "ts": pd.to_datetime(pd.Series(stamps, dtype=object), utc=True)})
    frame.to_parquet(folder / f"{name}.parquet", index=False)


def _ids(log, start, end):
    table = log.read_table(start, end, ["request_id", "ts"])
    return sorted(table.column("request_id").to_pylist())


def test_an_hour_file_inside_its_window_is_read_whole_and_a_spilling_one_is_cut(tmp_path):
    folder = tmp_path / "date=2026-11-20" / "hour=10"
    _write(folder, "inside", [HOUR, HOUR + timedelta(minutes=30), HOUR + timedelta(hours=1, microseconds=-1), None])
    _write(folder, "spill", [HOUR + timedelta(minutes=5), HOUR + timedelta(hours=1)])     # 11:00 is the next hour's
    log = LakeRequestLog(str(tmp_path))
    fragments = {f.path.rpartition("/")[2]: f for f in
                 log._dataset().get_fragments(filter=_hive_filter(HOUR, HOUR + timedelta(hours=1)))}
    end = HOUR + timedelta(hours=1)
    assert _inside_by_statistics(fragments["inside.parquet"], HOUR, end)        # a null ts stays with its hour
    assert not _inside_by_statistics(fragments["spill.parquet"], HOUR, end)
    assert not _inside_by_statistics(fragments["inside.parquet"], HOUR + timedelta(minutes=30), end)  # not its first
    assert _ids(log, HOUR, end) == ["inside-0", "inside-1", "inside-2", "inside-3", "spill-0"]
    half = HOUR + timedelta(minutes=30)
    first, second = _ids(log, HOUR, half), _ids(log, half, end)
    assert first == ["inside-0", "inside-3", "spill-0"] and second == ["inside-1", "inside-2"]
    assert isinstance(fragments["inside.parquet"], ds.ParquetFileFragment)
