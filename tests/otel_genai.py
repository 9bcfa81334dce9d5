"""A real OpenTelemetry GenAI producer for the otel source's tests: the official OpenAI instrumentation around the
`openai` client (in a venv of its own: its pins are not ours), calling a fake OpenAI-compatible server on
127.0.0.1, exported by `opentelemetry-exporter-otlp-json-file`."""

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# Tried together here: openai-v2 2.4b0 does not import beside util-genai 1.3b0; httpx is the client's transport.
OTEL_PRODUCER = ["opentelemetry-sdk==1.45.2", "opentelemetry-instrumentation-genai-openai==1.3b0",
                 "opentelemetry-exporter-otlp-json-file==0.66b1", "openai==3.57.0", "httpx==0.28.1"]
PRODUCER_SCRIPT = Path(__file__).parent / "gateways" / "otel_producer.py"
SLOW_SECONDS = 1.5          # longer than the producer's client timeout (0.5 s): the call times out


def make_otel_venv(root: Path) -> Path:
    """A venv with the producer's packages from the registry; returns its python."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", *OTEL_PRODUCER],
                   check=True, capture_output=True, text=True, timeout=900)
    return venv / "bin" / "python"


class _FakeOpenAI(BaseHTTPRequestHandler):
    """POST /{ok|fail|slow}/v1/chat/completions. `ok` answers with the usage the prompt asks for (the user message
    is JSON: prompt_tokens, completion_tokens, cached_tokens, id, finish_reason, model); `fail` answers 500;
    `slow` answers after SLOW_SECONDS."""

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        endpoint = self.path.strip("/").split("/")[0]
        if endpoint == "fail":
            return self._send(500, {"error": {"message": "upstream exploded", "type": "server_error"}})
        if endpoint == "slow":
            time.sleep(SLOW_SECONDS)
        want = json.loads(body["messages"][-1]["content"])
        if body.get("stream"):
            return self._stream(body, want)
        usage = {"prompt_tokens": want["prompt_tokens"], "completion_tokens": want["completion_tokens"],
                 "total_tokens": want["prompt_tokens"] + want["completion_tokens"],
                 "prompt_tokens_details": {"cached_tokens": want.get("cached_tokens", 0)}}
        self._send(200, {"id": want["id"], "object": "chat.completion", "created": 1_790_000_000,
                         "model": want.get("model", body["model"]), "usage": usage,
                         "choices": [{"index": 0, "finish_reason": want.get("finish_reason", "stop"),
                                      "message": {"role": "assistant", "content": "done"}}]})

    def _stream(self, body: dict, want: dict) -> None:
        """Server-sent chunks: two content deltas, a finish, then usage (the client asks for it)."""
        head = {"id": want["id"], "object": "chat.completion.chunk", "created": 1_790_000_000,
                "model": want.get("model", body["model"])}
        usage = {"prompt_tokens": want["prompt_tokens"], "completion_tokens": want["completion_tokens"],
                 "total_tokens": want["prompt_tokens"] + want["completion_tokens"],
                 "prompt_tokens_details": {"cached_tokens": want.get("cached_tokens", 0)}}
        chunks = [{**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "do"}}]},
                  {**head, "choices": [{"index": 0, "delta": {"content": "ne"}}]},
                  {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": want.get("finish_reason", "stop")}]},
                  {**head, "choices": [], "usage": usage}]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()          # HTTP/1.0: the stream ends when the connection closes
        for i, chunk in enumerate(chunks):
            if i == 1:
                time.sleep(0.05)    # the first chunk is out before the rest: time to first chunk < latency
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")

    def _send(self, code: int, payload: dict) -> None:
        raw = json.dumps(payload).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):     # the timed-out client hung up
            pass

    def log_message(self, *args):
        pass


def fake_openai_server() -> tuple[str, callable]:
    """Start the fake server on a free port; returns its base URL and a stop function."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        server.server_close()
    return f"http://127.0.0.1:{server.server_port}", stop


def produce_spans(python: Path, plan: dict, out: Path) -> str:
    """Run the producer's plan (its base_url set here) against a fresh fake server; returns the producer's stderr."""
    base_url, stop = fake_openai_server()
    try:
        plan_file = out.with_suffix(".plan.json")
        plan_file.write_text(json.dumps({**plan, "base_url": base_url}))
        return subprocess.run([str(python), str(PRODUCER_SCRIPT), str(plan_file), str(out)], check=True,
                              capture_output=True, text=True, timeout=300).stderr
    finally:
        stop()
