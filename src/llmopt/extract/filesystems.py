"""Local folders and S3 (or an S3-compatible store) as one pyarrow filesystem interface."""

from __future__ import annotations

import os
from urllib.parse import urlparse

from pyarrow import fs as pafs


def open_filesystem(uri: str, s3_endpoint_url: str | None = None) -> tuple[pafs.FileSystem, str]:
    """The filesystem holding `uri` and the path within it.

    Args:
        uri: a local path, `file://path` or `s3://bucket/prefix`.
        s3_endpoint_url: for S3-compatible stores, e.g. `http://127.0.0.1:9000`. Credentials come from the
            usual AWS chain (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, profiles, instance roles).
    """
    if uri.startswith("s3://"):
        kwargs = {}
        if s3_endpoint_url:
            endpoint = urlparse(s3_endpoint_url)
            kwargs = {"endpoint_override": endpoint.netloc or endpoint.path, "scheme": endpoint.scheme or "https",
                      "region": "us-east-1"}   # an S3-compatible store rarely cares; AWS needs the bucket's own
        # pyarrow's built-in S3 client (no network-installed extension, unlike DuckDB's httpfs)
        filesystem = pafs.S3FileSystem(connect_timeout=10, request_timeout=60, **kwargs)
        return filesystem, uri[len("s3://"):].rstrip("/")
    path = uri[len("file://"):] if uri.startswith("file://") else uri
    return pafs.LocalFileSystem(), os.path.abspath(path) if not any(c in path for c in "*?[") else path
