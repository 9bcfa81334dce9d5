"""A fake OpenAI-compatible upstream on 127.0.0.1 that plays a world with a known truth.

Per requested `model` and task (named in the system message, `task: <task_type>`), it sleeps the model's latency,
fails every n-th request with a 500, and answers with token counts around the world's means. It counts every request it gets,
so a test can tell that the proxy sent its calls here and nowhere else.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class ModelTruth:
    """What one model does on one task: its quality (the feedback score), latency, tokens and failures."""

    quality: float
    latency_ms: float
    prompt_tokens: int
    completion_tokens: int
    fail_every: int = 0         # every n-th request to this (model, task) fails with a 500 (0: never)


@dataclass
class FakeUpstream:
    """`truth[(task_type, model)]`; `start()` serves it on a free port (`base_url` is what `api_base` takes)."""

    truth: dict[tuple[str, str], ModelTruth]
    calls: Counter = field(default_factory=Counter)         # (task_type, model) → requests received
    paths: Counter = field(default_factory=Counter)         # every path asked for
    _ids: itertools.count = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> "FakeUpstream":
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, body: dict) -> tuple[int, dict]:
        """The status and JSON the world gives for one chat completion request."""
        system = next((m["content"] for m in body.get("messages", []) if m.get("role") == "system"), "")
        task, model = system.removeprefix("task: ").strip(), body.get("model", "")
        truth = self.truth.get((task, model))
        if truth is None:
            return 404, {"error": {"message": f"no model {model!r} for task {task!r}", "type": "not_found"}}
        with self._lock:
            self.calls[(task, model)] += 1
            n, seq = self.calls[(task, model)], next(self._ids)
        time.sleep(truth.latency_ms / 1000)
        if truth.fail_every and n % truth.fail_every == 0:
            return 500, {"error": {"message": "upstream overloaded", "type": "server_error"}}
        # lengths vary around the world's means (±25%, seeded by the call): a constant length fits no model
        draw = random.Random(seq)
        prompt = round(truth.prompt_tokens * draw.uniform(0.75, 1.25))
        completion = max(1, round(truth.completion_tokens * draw.uniform(0.75, 1.25)))
        return 200, {
            "id": f"chatcmpl-fake-{seq:06d}", "object": "chat.completion", "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": f"{task} by {model}"}}],
            # as OpenAI answers: usage names its cached prompt tokens (0), so the logged payload carries them
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                      "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0}}}

    def _handler(self):
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                upstream.paths[self.path] += 1
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                status, payload = (upstream.answer(body) if self.path.endswith("/chat/completions")
                                   else (404, {"error": {"message": self.path}}))
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                upstream.paths[self.path] += 1
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):       # quiet
                pass

        return Handler
