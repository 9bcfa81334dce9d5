"""LiteLLM's real proxy as a subprocess, booted from a bucket, and a traffic generator that calls it.

The proxy reads its config from `LITELLM_CONFIG_BUCKET_*` at start only (no database), so a new config is a
restart. Every call goes to 127.0.0.1: the proxy, its upstream (`OPENAI_API_BASE`, for every `openai/*`
deployment) and the S3-compatible server (configs and `s3_v2` logs); the cost map is LiteLLM's bundled one.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.services import free_port, wait_for_http

MASTER_KEY = "sk-test"


def proxy_env(s3_endpoint: str, bucket: str, object_key: str, upstream: str) -> dict[str, str]:
    """The proxy's whole environment (nothing inherited: no stray credentials, proxies or telemetry)."""
    return {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LITELLM_MASTER_KEY": MASTER_KEY,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_CONFIG_BUCKET_NAME": bucket,
            "LITELLM_CONFIG_BUCKET_OBJECT_KEY": object_key, "AWS_ENDPOINT_URL": s3_endpoint,
            "AWS_ENDPOINT_URL_S3": s3_endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION_NAME": "us-east-1",
            # read by litellm.constants at import: the s3_v2 logger flushes every second, one object per request
            "DEFAULT_S3_FLUSH_INTERVAL_SECONDS": "1", "DEFAULT_S3_BATCH_SIZE": "1",
            "OPENAI_API_BASE": upstream, "OPENAI_API_KEY": "sk-fake-upstream",
            "TELEMETRY": "False", "DO_NOT_TRACK": "true", "NO_DOCS": "True"}


class EgressSink:
    """An HTTP(S) forward proxy on 127.0.0.1 that forwards nothing and records every request sent through it.

    Given to the LiteLLM proxy as `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY` with `NO_PROXY` for 127.0.0.1 and
    localhost, any call to another host (a cost-map download, telemetry, a real provider) lands here, named.
    """

    def __init__(self):
        self.seen: list[str] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def _refuse(self):
                sink.seen.append(self.requestline)
                self.send_error(403, "llmopt tests: no egress")

            do_CONNECT = do_GET = do_POST = do_PUT = do_HEAD = _refuse

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def env(self) -> dict[str, str]:
        url = f"http://127.0.0.1:{self.server.server_port}"
        local = "127.0.0.1,localhost"
        return {"HTTP_PROXY": url, "HTTPS_PROXY": url, "ALL_PROXY": url, "http_proxy": url, "https_proxy": url,
                "all_proxy": url, "NO_PROXY": local, "no_proxy": local}

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Proxy:
    """One running proxy process (`url` without a path); `stop()` ends it and returns its log."""

    proc: subprocess.Popen
    url: str
    log: Path

    def stop(self) -> str:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.log.read_text(errors="replace")


def start_proxy(python: Path, env: dict[str, str], log: Path, timeout_s: float = 180) -> Proxy:
    """`litellm --host 127.0.0.1 --port P` (the venv's CLI), ready when its liveness endpoint answers."""
    port = free_port()
    cli = Path(python).parent / "litellm"
    proc = subprocess.Popen([str(cli), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    wait_for_http(url + "/health/liveliness", timeout_s, proc, log)
    return Proxy(proc, url, log)


@dataclass(frozen=True)
class Answer:
    """What the proxy said to one call: the alias asked for, its HTTP status, the response id and served model."""

    alias: str
    status: int
    response_id: str | None
    model: str | None           # the response's `model` (the upstream's model name)
    deployment_id: str | None   # the proxy's `x-litellm-model-id` header (the deployment's model_info.id)


def call(proxy_url: str, alias: str, task_type: str, timeout_s: float = 60) -> Answer:
    body = json.dumps({"model": alias, "messages": [{"role": "system", "content": f"task: {task_type}"},
                                                    {"role": "user", "content": "Here is the text."}]}).encode()
    request = urllib.request.Request(proxy_url + "/v1/chat/completions", data=body, method="POST",
                                     headers={"Authorization": f"Bearer {MASTER_KEY}",
                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:
            payload = json.loads(resp.read())
            return Answer(alias, resp.status, payload.get("id"), payload.get("model"),
                          resp.headers.get("x-litellm-model-id"))
    except urllib.error.HTTPError as error:
        return Answer(alias, error.code, None, None, error.headers.get("x-litellm-model-id"))


def send_traffic(proxy_url: str, calls: list[tuple[str, str]], concurrency: int = 8) -> list[Answer]:
    """Every `(alias, task_type)` of `calls`, `concurrency` at a time; the answers in call order."""
    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(lambda c: call(proxy_url, *c), calls))


def wait_for_objects(count_objects, expected: int, timeout_s: float = 60) -> int:
    """Poll `count_objects()` until it reaches `expected` (the logger flushes every second); the last count."""
    deadline, n = time.time() + timeout_s, 0
    while time.time() < deadline:
        n = count_objects()
        if n >= expected:
            return n
        time.sleep(0.5)
    return n
