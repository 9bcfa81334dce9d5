"""Config stores: where published configs live. A local directory or S3 (any S3-compatible endpoint)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse


class VersionExists(Exception):
    """A versioned config key is already taken; versions are immutable."""


class ConfigStore(Protocol):
    """Keys are relative, e.g. `support/v000003.json`; the store adds its root or prefix."""

    def read(self, key: str) -> bytes | None: ...

    def write(self, key: str, data: bytes, *, exclusive: bool = False) -> None: ...

    def list(self, prefix: str) -> list[str]: ...

    def location(self, key: str) -> str: ...


class LocalConfigStore:
    """Configs under a local directory (the embedded default, `.llmopt/configs`)."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def read(self, key: str) -> bytes | None:
        path = self.root / key
        return path.read_bytes() if path.exists() else None

    def write(self, key: str, data: bytes, *, exclusive: bool = False) -> None:
        """Write atomically, so a reader never sees half a file: a private temp file, then rename.

        `exclusive` links the temp file to its key instead (`link` fails if the key exists, atomically): of
        two writers of one version exactly one wins, where a check-then-write would let both pass.
        """
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            if exclusive:
                try:
                    os.link(tmp, path)
                except FileExistsError as err:
                    raise VersionExists(self.location(key)) from err
            else:
                os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def list(self, prefix: str) -> list[str]:
        base = self.root / prefix
        if not base.exists():
            return []
        return sorted(str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file()
                      and not p.name.endswith(".tmp"))      # a writer's temp file, never a config

    def location(self, key: str) -> str:
        return (self.root / key).resolve().as_uri()


class S3ConfigStore:
    """Configs in `s3://bucket/prefix` through boto3; `endpoint_url` for S3-compatible stores."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None, client=None):
        import boto3

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client or boto3.client("s3", endpoint_url=endpoint_url)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def read(self, key: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None

    def write(self, key: str, data: bytes, *, exclusive: bool = False) -> None:
        """PUT the object; `exclusive` uses a conditional write (If-None-Match: *) so no version is overwritten."""
        from botocore.exceptions import ClientError

        extra = {"IfNoneMatch": "*"} if exclusive else {}
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data,
                                   ContentType="application/json", **extra)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise VersionExists(self.location(key)) from err
            raise

    def list(self, prefix: str) -> list[str]:
        keys = []
        strip = len(self.prefix) + 1 if self.prefix else 0
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            keys.extend(obj["Key"][strip:] for obj in page.get("Contents", []))
        return sorted(keys)

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"


def open_config_store(uri: str, s3_endpoint_url: str | None = None) -> ConfigStore:
    """Open `file://path` (relative paths allowed) or `s3://bucket/prefix`.

    Raises:
        ValueError: the scheme is neither file nor s3.
    """
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        return S3ConfigStore(parsed.netloc, parsed.path, endpoint_url=s3_endpoint_url)
    if parsed.scheme in ("file", ""):
        path = uri[len("file://"):] if uri.startswith("file://") else uri
        return LocalConfigStore(path)
    raise ValueError(f"config_store_uri: unsupported scheme {parsed.scheme!r} (use file:// or s3://)")
