"""Real servers for the tests: PostgreSQL, moto (S3 over HTTP), prefect server, mlflow server.

Each starter returns (address, stop); the fixtures in conftest.py stop what they started.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited early ({proc.returncode}): {log.read_text()[-2000:] if log else ''}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status < 500:
                    return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout} s: {log.read_text()[-2000:] if log else ''}")


def _stopper(proc: subprocess.Popen):
    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    stop.proc = proc            # for fault tests that freeze the server (SIGSTOP) rather than stop it
    return stop


def start_postgres() -> tuple[str, callable]:
    """initdb + pg_ctl start on a free port, as the `postgres` user when running as root.

    Raises:
        RuntimeError: no PostgreSQL server binaries (`.ci/run` installs them with apt).
    """
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins and not shutil.which("initdb"):
        raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql")
    bindir = Path(bins[-1]).parent if bins else Path(shutil.which("initdb")).parent
    root = Path(tempfile.mkdtemp(prefix="llmopt-pg-"))
    data, port = root / "data", free_port()
    as_root = os.geteuid() == 0
    if as_root:
        shutil.chown(root, "postgres", "postgres")

    def run(*cmd: str) -> None:
        full = ["runuser", "-u", "postgres", "--", *cmd] if as_root else list(cmd)
        subprocess.run(full, check=True, capture_output=True, text=True)

    run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "llmopt", "--no-sync")
    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-t", "60", "start",
        "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off")
    run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "llmopt", "llmopt")

    def stop() -> None:
        try:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return f"postgresql+psycopg://llmopt@127.0.0.1:{port}/llmopt", stop


def start_moto() -> tuple[str, callable]:
    """moto in server mode: an S3-compatible HTTP endpoint."""
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="llmopt-moto-")) / "log"
    proc = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_for_http(url + "/moto-api/", 60, proc, log)
    return url, _stopper(proc)


def start_prefect_server(home: Path) -> tuple[str, callable]:
    """`prefect server start` on a free port with its own PREFECT_HOME."""
    port = free_port()
    log = home / "server.log"
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_ENABLED": "false", "PREFECT_API_URL": ""}
    proc = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/api"
    wait_for_http(url + "/health", 120, proc, log)
    return url, _stopper(proc)


def start_mlflow_server(root: Path) -> tuple[str, callable]:
    """`mlflow server` on a free port with a SQLite backend and local artifact root."""
    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    log = root / "server.log"
    proc = subprocess.Popen(
        [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "artifacts")],
        stdout=log.open("w"), stderr=subprocess.STDOUT, env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"})
    url = f"http://127.0.0.1:{port}"
    wait_for_http(url + "/health", 180, proc, log)
    return url, _stopper(proc)
