"""The files or objects under a source's `path` (a folder, a glob or `s3://bucket/prefix`), listed and read.

Listing is one recursive call (pyarrow's filesystem: the same code for a folder and S3); reading many small
objects (LiteLLM writes one per request) runs GETs concurrently in threads, since each is a round trip.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pyarrow import fs as pafs

from llmopt.extract.filesystems import open_filesystem

READ_THREADS = 16           # concurrent GETs of small objects (S3 answers each in a round trip)


@dataclass(frozen=True)
class StoredFile:
    """One file or object: its path in the filesystem, size and modification time (for fingerprints)."""

    path: str
    size: int
    mtime_ns: int

    @property
    def name(self) -> str:
        return self.path.rpartition("/")[2]


class ObjectFiles:
    """The files under `uri`, with `suffixes` (e.g. `(".json",)`; gzip-compressed `.gz` variants included).

    Args:
        uri: a file, a folder, a glob or `s3://bucket/prefix`.
        setting: the setting that named `uri`, for error messages (e.g. `source.path`).
    """

    def __init__(self, uri: str, suffixes: tuple[str, ...], s3_endpoint_url: str | None = None,
                 setting: str = "source.path"):
        self.uri, self.setting = uri, setting
        self.suffixes = suffixes + tuple(s + ".gz" for s in suffixes)
        self.filesystem, self._root = open_filesystem(uri, s3_endpoint_url)

    def list(self) -> list[StoredFile]:
        """Every matching file, sorted by path (listed again on each call: new files arrive).

        Raises:
            FileNotFoundError: nothing exists at `uri` (names the setting).
        """
        pattern = self._root
        glob_at = min([i for i in (pattern.find("*"), pattern.find("?"), pattern.find("[")) if i >= 0], default=-1)
        base = pattern if glob_at < 0 else pattern[:glob_at].rpartition("/")[0]
        info = self.filesystem.get_file_info(base)
        if info.type == pafs.FileType.File:
            found = [info]
        elif info.type == pafs.FileType.NotFound and not self.uri.startswith("s3://"):
            raise FileNotFoundError(f"{self.setting}: nothing at {self.uri}")
        else:       # an S3 prefix with no objects yet is an empty log, not a typo we can tell apart
            found = self.filesystem.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        return sorted((StoredFile(f.path, f.size or 0, f.mtime_ns or 0) for f in found
                       if f.type == pafs.FileType.File and not f.base_name.startswith((".", "_"))
                       and f.base_name.endswith(self.suffixes)
                       and (glob_at < 0 or fnmatch.fnmatch(f.path, pattern))), key=lambda f: f.path)

    def read(self, files: list[StoredFile]) -> list[bytes]:
        """The contents of `files` (gunzipped where the name ends in `.gz`), in their order."""
        def one(f: StoredFile) -> bytes:
            with self.filesystem.open_input_stream(f.path, compression=None) as stream:   # gunzipped below, once
                data = stream.read()
            return gzip.decompress(data) if f.path.endswith(".gz") else data
        if len(files) < 4:
            return [one(f) for f in files]
        with ThreadPoolExecutor(READ_THREADS) as pool:
            return list(pool.map(one, files))


def read_line_pieces(filesystem, f: StoredFile, size: int):
    """`(piece, number of its first line)` of `f` read as a stream, pieces of about `size` bytes that end at a line
    break (gunzipped as read where the name ends in `.gz`): a large file is never held whole."""
    compression = "gzip" if f.path.endswith(".gz") else None
    line, rest = 1, b""
    with filesystem.open_input_stream(f.path, compression=compression) as stream:
        while True:
            block = stream.read(size)
            data = rest + block
            if not block:
                if data:
                    yield data, line
                return
            cut = data.rfind(b"\n") + 1
            if cut == 0:                    # one line longer than `size`: read on until it ends
                rest = data
                continue
            piece, rest = data[:cut], data[cut:]
            yield piece, line
            line += piece.count(b"\n")


def fingerprint_files(files: list[StoredFile], extra: str = "") -> str:
    """A SHA-256 of the files' paths, sizes and modification times (and `extra`, e.g. the feedback's digest)."""
    text = "\n".join(f"{f.path} {f.size} {f.mtime_ns}" for f in files) + "\n" + extra
    return hashlib.sha256(text.encode()).hexdigest()
