"""Where rollups are kept: Parquet files beside the other stores, one folder per partition.

`<rollups_dir>/<partition key>/cells.parquet`, `sample.parquet` and `meta.json`. The metadata, holding the
input's fingerprint, is removed first and written last, so a rollup whose write was cut short is not
found, and a rollup whose input changed (a late row, an edited file) is recomputed.
Local folders or `s3://bucket/prefix` (a shared store, so every worker of a cluster sees the same rollups).
"""

from __future__ import annotations

import json

import duckdb

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from llmopt.extract.filesystems import open_filesystem
from llmopt.rollup.partition import Partition, PartitionRollup

# 2: sample keys from DuckDB's hash (both engines), which is stable within a DuckDB release
FORMAT_VERSION = f"2+duckdb{duckdb.__version__}"


class RollupStore:
    """Reads and writes partition rollups under `uri` (a folder or `s3://bucket/prefix`)."""

    def __init__(self, uri: str, s3_endpoint_url: str | None = None):
        self.uri = uri
        self.filesystem, self.root = open_filesystem(uri, s3_endpoint_url)

    def _path(self, partition: Partition, name: str) -> str:
        return f"{self.root}/{partition.key}/{name}"

    def load(self, partition: Partition, fingerprint: str) -> PartitionRollup | None:
        """The stored rollup of `partition` if it was made from input with this `fingerprint`."""
        try:
            with self.filesystem.open_input_stream(self._path(partition, "meta.json")) as f:
                meta = json.loads(f.read())
        except (FileNotFoundError, OSError):
            return None
        if meta.get("fingerprint") != fingerprint or meta.get("format") != FORMAT_VERSION:
            return None
        cells = pq.read_table(self._path(partition, "cells.parquet"), filesystem=self.filesystem).to_pandas()
        sample = pq.read_table(self._path(partition, "sample.parquet"), filesystem=self.filesystem).to_pandas()
        return PartitionRollup(partition, fingerprint, cells, sample, meta["sample_threshold"], meta["rows_read"],
                               meta["rows_quarantined"], meta["reasons"], meta.get("expectation_results", []),
                               reused=True, excluded=meta.get("excluded"),
                               feedback_scores=meta.get("feedback_scores", 0), newest_score=meta.get("newest_score"))

    def save(self, rollup: PartitionRollup) -> None:
        """Write one rollup (metadata last: the rollup counts only once it is whole)."""
        part = rollup.partition
        self.filesystem.create_dir(f"{self.root}/{part.key}", recursive=True)
        try:
            self.filesystem.delete_file(self._path(part, "meta.json"))
        except (FileNotFoundError, OSError):
            pass
        for name, frame in (("cells.parquet", rollup.cells), ("sample.parquet", rollup.sample)):
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), self._path(part, name),
                           filesystem=self.filesystem)
        meta = {"format": FORMAT_VERSION, "fingerprint": rollup.fingerprint, "start": part.start.isoformat(),
                "end": part.end.isoformat(), "sample_threshold": rollup.sample_threshold,
                "rows_read": rollup.rows_read, "rows_quarantined": rollup.rows_quarantined,
                "reasons": rollup.reasons, "expectation_results": rollup.expectation_results,
                "excluded": rollup.excluded, "feedback_scores": rollup.feedback_scores,
                "newest_score": rollup.newest_score}
        with self.filesystem.open_output_stream(self._path(part, "meta.json")) as f:
            f.write(json.dumps(meta, default=str).encode())

    def keys(self) -> list[str]:
        """The partition keys with a stored rollup."""
        try:
            found = self.filesystem.get_file_info(pafs.FileSelector(self.root, recursive=False))
        except (FileNotFoundError, OSError):
            return []
        return sorted(f.base_name for f in found if f.type == pafs.FileType.Directory)
