"""What a gateway does with the config store: read `<service>/latest.json` as plain JSON (no llmopt code)."""

import json


def read_latest(store, service: str) -> dict | None:
    raw = store.read(f"{service}/latest.json")
    return None if raw is None else json.loads(raw)


NODE_SCRIPT = __import__("pathlib").Path(__file__).parent / "js" / "verify_config_hash.mjs"


def node(*args: str) -> str:
    """Run the hash check under Node (`.ci/run` installs nodejs); a missing Node fails the test, never skips."""
    import shutil
    import subprocess

    exe = shutil.which("node")
    assert exe, "node not found: apt-get install nodejs (the hash must verify outside Python)"
    return subprocess.run([exe, str(NODE_SCRIPT), *args], check=True, capture_output=True, text=True).stdout


def node_verifies(paths) -> list[dict]:
    """Node's verdict on each published config file's content_sha256."""
    return [json.loads(line) for line in node(*map(str, paths)).splitlines()]
