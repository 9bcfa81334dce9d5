"""Config stores: where published configs live. A local directory or S3 (any S3-compatible endpoint)."""

from __future__ import annotations

import fcntl
import hashlib
import os
import uuid
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse


class VersionExists(Exception):
    """A versioned config key is already taken; versions are immutable."""


class ConfigStoreUnavailable(RuntimeError):
    """The config store did not answer within its bounded time (names the settings)."""


class PointerMoved(Exception):
    """A `latest.*` pointer changed between this run's read and its write (another run moved it)."""


class ConfigStore(Protocol):
    """Keys are relative, e.g. `support/v000003.json`; the store adds its root or prefix."""

    def read(self, key: str) -> bytes | None: ...

    def read_tagged(self, key: str) -> tuple[bytes | None, str | None]: ...

    def write(self, key: str, data: bytes, *, exclusive: bool = False) -> None: ...

    def swap(self, key: str, data: bytes, expected_tag: str | None) -> None: ...

    def list(self, prefix: str) -> list[str]: ...

    def location(self, key: str) -> str: ...


class LocalConfigStore:
    """Configs under a local directory (the embedded default, `.llmopt/configs`)."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def read(self, key: str) -> bytes | None:
        path = self.root / key
        return path.read_bytes() if path.exists() else None

    def read_tagged(self, key: str) -> tuple[bytes | None, str | None]:
        """The bytes at `key` and their tag (SHA-256; None when absent), for a later `swap`."""
        data = self.read(key)
        return data, hashlib.sha256(data).hexdigest() if data is not None else None

    def swap(self, key: str, data: bytes, expected_tag: str | None) -> None:
        """Replace `key` only if it still holds what was read with tag `expected_tag` (None: still absent).

        The compare and the atomic rename happen under an exclusive `flock` of the key's lock file, so two
        writers of one pointer cannot both pass the compare.

        Raises:
            PointerMoved: the key changed since it was read.
        """
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.parent / f".{path.name}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.read_tagged(key)[1] != expected_tag:
                raise PointerMoved(self.location(key))
            self.write(key, data)

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
                      and not p.name.startswith("."))      # a writer's temp or lock file, never a config

    def location(self, key: str) -> str:
        return (self.root / key).resolve().as_uri()


class S3ConfigStore:
    """Configs in `s3://bucket/prefix` through boto3; `endpoint_url` for S3-compatible stores."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None, client=None,
                 timeout_seconds: float = 10, max_attempts: int = 3):
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.timeout_seconds, self.max_attempts = timeout_seconds, max_attempts
        # bounded: each request waits at most connect + read timeout, `max_attempts` times with backoff
        config = Config(connect_timeout=timeout_seconds, read_timeout=6 * timeout_seconds,
                        retries={"max_attempts": max_attempts, "mode": "standard"})
        self.client = client or boto3.client("s3", endpoint_url=endpoint_url, config=config)

    def _unavailable(self, err: Exception) -> ConfigStoreUnavailable:
        where = f" at {self.endpoint_url} (setting s3_endpoint_url)" if self.endpoint_url else ""
        return ConfigStoreUnavailable(
            f"config store s3://{self.bucket}/{self.prefix} (setting config_store_uri){where} did not answer "
            f"within {self.max_attempts} attempts of {self.timeout_seconds:g} s: {str(err).splitlines()[0][:200]}")

    def _call(self, method: str, **kwargs):
        """One S3 request; a connection failure or timeout becomes ConfigStoreUnavailable."""
        from botocore.exceptions import ConnectionError as BotoConnectionError, ReadTimeoutError

        try:
            return getattr(self.client, method)(Bucket=self.bucket, **kwargs)
        except (BotoConnectionError, ReadTimeoutError) as err:
            raise self._unavailable(err) from None

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def read(self, key: str) -> bytes | None:
        try:
            return self._call("get_object", Key=self._key(key))["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None

    def read_tagged(self, key: str) -> tuple[bytes | None, str | None]:
        """The object's bytes and ETag (None, None when absent), for a later `swap`."""
        try:
            obj = self._call("get_object", Key=self._key(key))
        except self.client.exceptions.NoSuchKey:
            return None, None
        return obj["Body"].read(), obj["ETag"]

    def write(self, key: str, data: bytes, *, exclusive: bool = False) -> None:
        """PUT the object; `exclusive` uses a conditional write (If-None-Match: *) so no version is overwritten."""
        if not self._put(key, data, {"IfNoneMatch": "*"} if exclusive else {}):
            raise VersionExists(self.location(key))

    def swap(self, key: str, data: bytes, expected_tag: str | None) -> None:
        """PUT only if the object still has ETag `expected_tag` (If-Match), or is still absent (If-None-Match: *).

        Raises:
            PointerMoved: the key changed since it was read.
        """
        condition = {"IfMatch": expected_tag} if expected_tag else {"IfNoneMatch": "*"}
        if not self._put(key, data, condition):
            raise PointerMoved(self.location(key))

    def _put(self, key: str, data: bytes, condition: dict) -> bool:
        """False when S3 refuses the write's condition (412, or 409 for a concurrent conditional write)."""
        from botocore.exceptions import ClientError

        try:
            self._call("put_object", Key=self._key(key), Body=data, ContentType="application/json", **condition)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise
        return True

    def list(self, prefix: str) -> list[str]:
        keys = []
        strip = len(self.prefix) + 1 if self.prefix else 0
        token: dict = {}
        while True:
            page = self._call("list_objects_v2", Prefix=self._key(prefix), **token)
            keys.extend(obj["Key"][strip:] for obj in page.get("Contents", []))
            if not page.get("IsTruncated"):
                return sorted(keys)
            token = {"ContinuationToken": page["NextContinuationToken"]}

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"


def open_config_store(uri: str, s3_endpoint_url: str | None = None, timeout_seconds: float = 10,
                      max_attempts: int = 3) -> ConfigStore:
    """Open `file://path` (relative paths allowed) or `s3://bucket/prefix`.

    Raises:
        ValueError: the scheme is neither file nor s3.
    """
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        return S3ConfigStore(parsed.netloc, parsed.path, endpoint_url=s3_endpoint_url,
                             timeout_seconds=timeout_seconds, max_attempts=max_attempts)
    if parsed.scheme in ("file", ""):
        path = uri[len("file://"):] if uri.startswith("file://") else uri
        return LocalConfigStore(path)
    raise ValueError(f"config_store_uri: unsupported scheme {parsed.scheme!r} (use file:// or s3://)")
