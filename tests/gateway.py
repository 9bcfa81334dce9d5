"""What gateways do with llmopt's output, outside llmopt: read latest.json as plain JSON, check its hash in Node,
route a LiteLLM export through LiteLLM's real Router."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path


def read_latest(store, service: str) -> dict | None:
    raw = store.read(f"{service}/latest.json")
    return None if raw is None else json.loads(raw)


NODE_SCRIPT = Path(__file__).parent / "js" / "verify_config_hash.mjs"


def node(*args: str) -> str:
    """Run the hash check under Node (`.ci/run` installs nodejs); a missing Node fails the test, never skips."""
    exe = shutil.which("node")
    assert exe, "node not found: apt-get install nodejs (the hash must verify outside Python)"
    return subprocess.run([exe, str(NODE_SCRIPT), *args], check=True, capture_output=True, text=True).stdout


def node_verifies(paths) -> list[dict]:
    """Node's verdict on each published config file's content_sha256."""
    return [json.loads(line) for line in node(*map(str, paths)).splitlines()]


LITELLM = "litellm==1.106.0"     # 1.106.1+ need a certifi newer than the registry has; its pins clash with ours
LITELLM_PROBE = Path(__file__).parent / "gateways" / "litellm_probe.py"


# pinned exactly: a later release is reported compromised upstream
LITELLM_PROXY = "litellm[proxy]==1.106.0"
LITELLM_PROXY_PROBE = Path(__file__).parent / "gateways" / "litellm_proxy_probe.py"


def make_litellm_venv(root: Path, requirement: str = LITELLM) -> Path:
    """A venv with LiteLLM from PyPI (`requirement`: e.g. `LITELLM_PROXY` for the proxy); returns its python."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", requirement,
                    "boto3"],      # boto3: LiteLLM's s3_v2 logger signs its PUTs with botocore
                   check=True, capture_output=True, text=True, timeout=900)
    return venv / "bin" / "python"


def make_litellm_proxy_venv(root: Path) -> Path:
    """A venv with LiteLLM's proxy (`litellm[proxy]`, the pinned release); returns its python."""
    return make_litellm_venv(root, LITELLM_PROXY)


def load_with_litellm_proxy(python, out: Path, config_file: Path | None = None, env: dict | None = None) -> dict:
    """What the real proxy's own config loader makes of a config: from `config_file`, else from the bucket that
    `env` names (`LITELLM_CONFIG_BUCKET_*`). Its deployments, fallbacks and routing strategy, as JSON."""
    args = [str(python), str(LITELLM_PROXY_PROBE), str(out)] + ([str(config_file)] if config_file else [])
    run_env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", **(env or {})}
    subprocess.run(args, check=True, capture_output=True, text=True, timeout=300, env=run_env)
    return json.loads(out.read_text())


def probe_litellm(python, body: dict, tmp_path, client_max_tokens: int | None = None) -> dict:
    """Per alias, what LiteLLM's real Router hands to litellm.completion for this export (mock responses)."""
    export = tmp_path / "litellm-export.json"
    export.write_text(json.dumps(body))
    args = [str(python), str(LITELLM_PROBE), str(export)] + ([str(client_max_tokens)] if client_max_tokens else [])
    return json.loads(subprocess.run(args, check=True, capture_output=True, text=True, timeout=300).stdout)
