"""Publish the organisation's LiteLLM proxy config at a stable key, and wait for a newer one.

Keys: `litellm/proxy_config.v<N:06d>.yaml` (immutable, exclusive create), then the stable
`litellm/proxy_config.yaml` (what `LITELLM_CONFIG_BUCKET_OBJECT_KEY` names), swapped only if it still holds
what was read before the build (S3 If-Match; a flock'd compare locally), so it is never half-written and two
runs cannot overwrite each other's services. N, the org version, grows only when the merged content changes;
its first line says `v<N>` and which service versions it holds.

Every publish and every adopt step rebuilds the file from the services' `latest.json` (written first), so a
crash after the versioned copy leaves an orphan copy the next run swaps in (when its content is still
current), and a crash before it leaves the old stable file, which the next run replaces.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

from llmopt.publish.exports import LITELLM_NOTE
from llmopt.publish.proxy_merge import load_base, merge_proxy_config
from llmopt.publish.store import ConfigStore, PointerMoved, VersionExists

PROXY_KEY = "litellm/proxy_config.yaml"
VERSION_KEY = re.compile(r"^litellm/proxy_config\.v(?P<version>\d{6})\.yaml$")
HEADER = re.compile(r"^# LiteLLM proxy config v(?P<version>\d+) written by llmopt")
ATTEMPTS = 5        # rebuilds after another run moved the stable key first


class ProxyConfigConflict(RuntimeError):
    """Other runs kept moving the stable key; the services are published, the next run writes the file."""


@dataclass(frozen=True)
class ProxyConfigPublished:
    """The proxy config the store now holds, and whether this call wrote it."""

    version: int
    location: str
    written: bool


def proxy_version_key(version: int) -> str:
    return f"litellm/proxy_config.v{version:06d}.yaml"


def proxy_config_version(raw: bytes | None) -> int | None:
    """The org version in a proxy config's first line (None when absent or not written by llmopt)."""
    match = HEADER.match(raw.decode(errors="replace")) if raw else None
    return int(match["version"]) if match else None


def render_proxy_config(body: dict, version: int, services: dict[str, int]) -> bytes:
    held = ", ".join(f"{service} v{v}" for service, v in sorted(services.items()))
    header = (f"# LiteLLM proxy config v{version} written by llmopt ({held})\n"
              "# = litellm_base_config + every service's aliases; rewritten on each publish, do not edit.\n")
    return (header + LITELLM_NOTE + yaml.safe_dump(body, sort_keys=False)).encode()


def build_proxy_config(configs: list[dict], base_config: Path | None, providers: dict[str, str] | None = None,
                       contracts_dir: Path | None = None) -> dict:
    """The merged proxy config of `configs` (see `llmopt.publish.proxy_merge`)."""
    name = f"litellm_base_config {base_config}" if base_config else "litellm_base_config"
    return merge_proxy_config(load_base(base_config), configs, providers, contracts_dir, name)


def sync_proxy_config(store: ConfigStore, read_configs: Callable[[], list[dict]], base_config: Path | None,
                      providers: dict[str, str] | None = None,
                      contracts_dir: Path | None = None) -> ProxyConfigPublished | None:
    """Make the stable proxy config match the services' current configs; a new org version if it changed.

    Args:
        read_configs: every service's current config, read from the store (called after the tag is read, so
            a service published meanwhile either is in the build or moves the tag and forces a rebuild).

    Returns:
        What the store holds, or None when no service has a config yet (nothing is written).

    Raises:
        ProxyConfigClash: the base file and llmopt's aliases clash (nothing is written).
        ProxyConfigConflict: the stable key moved under every one of `ATTEMPTS` rebuilds.
    """
    for _ in range(ATTEMPTS):
        raw, tag = store.read_tagged(PROXY_KEY)
        configs = read_configs()
        if not configs:
            return None
        body = build_proxy_config(configs, base_config, providers, contracts_dir)
        current = proxy_config_version(raw)
        if raw is not None and yaml.safe_load(raw) == body:
            return ProxyConfigPublished(current or 0, store.location(PROXY_KEY), written=False)
        top = max(proxy_versions(store), default=0)
        orphan = store.read(proxy_version_key(top)) if top > (current or 0) else None
        if orphan is not None and yaml.safe_load(orphan) == body:
            version, data = top, orphan      # a crashed run's copy of this very content: finish it
        else:
            version = top + 1
            data = render_proxy_config(body, version, {c["service"]: c["version"] for c in configs})
            try:
                store.write(proxy_version_key(version), data, exclusive=True)
            except VersionExists:
                continue
        try:
            store.swap(PROXY_KEY, data, tag)
        except PointerMoved:
            continue
        return ProxyConfigPublished(version, store.location(PROXY_KEY), written=True)
    raise ProxyConfigConflict(f"{store.location(PROXY_KEY)} was moved by other runs {ATTEMPTS} times while this "
                              "one wrote it; the services are published and the next run rewrites it")


def proxy_versions(store: ConfigStore) -> list[int]:
    """Every versioned copy's org version, sorted (including any a crash left above the stable key)."""
    return sorted(int(m["version"]) for m in map(VERSION_KEY.match, store.list("litellm/")) if m)


def wait_for_proxy_config(store: ConfigStore, after: int, timeout_s: float | None = None, interval_s: float = 5.0,
                          clock: Callable[[], float] = time.monotonic,
                          sleep: Callable[[float], None] = time.sleep) -> int | None:
    """Poll the stable key until it holds an org version above `after`; that version, or None at the timeout.

    Each poll is one read; the wait between polls is `interval_s`, cut to what is left of `timeout_s`.
    """
    deadline = None if timeout_s is None else clock() + timeout_s
    while True:
        version = proxy_config_version(store.read(PROXY_KEY))
        if version is not None and version > after:
            return version
        left = None if deadline is None else deadline - clock()
        if left is not None and left <= 0:
            return None
        sleep(interval_s if left is None else min(interval_s, left))
