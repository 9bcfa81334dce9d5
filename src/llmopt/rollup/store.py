"""Where rollups are kept: Parquet files beside the other stores, one folder per partition.

`<rollups_dir>/<partition key>/cells.parquet`, `sample.parquet`, `statistics.parquet` and `meta.json`. The
metadata, holding the input's fingerprint, is removed first and written last, so a rollup whose write was cut
short is not found, and a rollup whose input changed (a late row, an edited file) is recomputed.
Local folders or `s3://bucket/prefix` (a shared store, so every worker of a cluster sees the same rollups).
"""

from __future__ import annotations

import json
import os
import threading

import duckdb
import pandas as pd

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from llmopt.extract.filesystems import open_filesystem
from llmopt.rollup.partition import SAMPLE_KEY, Partition, PartitionRollup
from llmopt.rollup.statistics import empty_statistics, typed

# 2: sample keys from DuckDB's hash (both engines), which is stable within a DuckDB release; 3: statistics.parquet;
# 4: the sample without `source_file` (the file a valid row came from: no step reads it, and it was ~20% of it)
FORMAT_VERSION = f"4+duckdb{duckdb.__version__}"


class RollupStore:
    """Reads and writes partition rollups under `uri` (a folder or `s3://bucket/prefix`)."""

    def __init__(self, uri: str, s3_endpoint_url: str | None = None):
        self.uri = uri
        self.filesystem, self.root = open_filesystem(uri, s3_endpoint_url)

    def _path(self, partition: Partition, name: str) -> str:
        return f"{self.root}/{partition.key}/{name}"

    def meta(self, partition: Partition, fingerprint: str) -> dict | None:
        """The stored rollup's metadata if it was made from input with this `fingerprint` in this format."""
        try:
            with self.filesystem.open_input_stream(self._path(partition, "meta.json")) as f:
                meta = json.loads(f.read())
        except (FileNotFoundError, OSError):
            return None
        if meta.get("fingerprint") != fingerprint or meta.get("format") != FORMAT_VERSION:
            return None
        return meta

    def _statistics(self, partition: Partition) -> pd.DataFrame:
        return typed(pq.read_table(self._path(partition, "statistics.parquet"), filesystem=self.filesystem).to_pandas())

    def load_statistics(self, partition: Partition, fingerprint: str) -> tuple[pd.DataFrame, str | None] | None:
        """Only the statistics of the stored rollup (and why it is excluded, if it is): what window statistics
        read, without its cells and sample."""
        meta = self.meta(partition, fingerprint)
        return None if meta is None else (self._statistics(partition), meta.get("excluded"))

    def load(self, partition: Partition, fingerprint: str, statistics: bool = True,
             sample_below: float = 1.0, meta: dict | None = None) -> PartitionRollup | None:
        """The stored rollup of `partition` if it was made from input with this `fingerprint`.

        Args:
            statistics: read its statistics too (a pool of rollups does not use them: None).
            sample_below: only the sample's rows whose key is under this (a pool's τ), filtered before pandas.
            meta: its `meta` if the caller has read it already (it is not read again).
        """
        meta = meta or self.meta(partition, fingerprint)
        if meta is None:
            return None
        cells = pq.read_table(self._path(partition, "cells.parquet"), filesystem=self.filesystem).to_pandas()
        sample = pq.read_table(self._path(partition, "sample.parquet"), filesystem=self.filesystem)
        if sample_below < 1.0 and SAMPLE_KEY in sample.column_names:
            sample = sample.filter(pc.less(sample[SAMPLE_KEY], sample_below))
        sample = sample.to_pandas()
        statistics = self._statistics(partition) if statistics else None
        return PartitionRollup(partition, fingerprint, cells, sample, meta["sample_threshold"], meta["rows_read"],
                               meta["rows_quarantined"], meta["reasons"], meta.get("expectation_results", []),
                               reused=True, excluded=meta.get("excluded"),
                               feedback_scores=meta.get("feedback_scores", 0), newest_score=meta.get("newest_score"),
                               statistics=statistics)

    def save(self, rollup: PartitionRollup) -> None:
        """Write one rollup (metadata last: the rollup counts only once it is whole)."""
        part = rollup.partition
        self.filesystem.create_dir(f"{self.root}/{part.key}", recursive=True)
        try:
            self.filesystem.delete_file(self._path(part, "meta.json"))
        except (FileNotFoundError, OSError):
            pass
        statistics = rollup.statistics if rollup.statistics is not None else empty_statistics()
        for name, frame in (("cells.parquet", rollup.cells), ("sample.parquet", rollup.sample),
                            ("statistics.parquet", statistics)):
            self._write_whole(pa.Table.from_pandas(frame, preserve_index=False), self._path(part, name))
        meta = {"format": FORMAT_VERSION, "fingerprint": rollup.fingerprint, "start": part.start.isoformat(),
                "end": part.end.isoformat(), "sample_threshold": rollup.sample_threshold,
                "rows_read": rollup.rows_read, "rows_quarantined": rollup.rows_quarantined,
                "reasons": rollup.reasons, "expectation_results": rollup.expectation_results,
                "excluded": rollup.excluded, "feedback_scores": rollup.feedback_scores,
                "newest_score": rollup.newest_score}
        with self.filesystem.open_output_stream(self._path(part, "meta.json")) as f:
            f.write(json.dumps(meta, default=str).encode())

    def _write_whole(self, table: pa.Table, path: str) -> None:
        """Write a Parquet file no reader sees half-written: on local disk under a temporary name, then renamed
        (two runs rolling up one partition at once, e.g. `experiment-analysis` beside the hourly run); an S3 PUT
        is whole by itself."""
        if not isinstance(self.filesystem, pafs.LocalFileSystem):
            pq.write_table(table, path, filesystem=self.filesystem)
            return
        partial = f"{path}.{os.getpid()}-{threading.get_ident()}.partial"
        pq.write_table(table, partial, filesystem=self.filesystem)
        os.replace(partial, path)

    def keys(self) -> list[str]:
        """The partition keys with a stored rollup."""
        try:
            found = self.filesystem.get_file_info(pafs.FileSelector(self.root, recursive=False))
        except (FileNotFoundError, OSError):
            return []
        return sorted(f.base_name for f in found if f.type == pafs.FileType.Directory)
