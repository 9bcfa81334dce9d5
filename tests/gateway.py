"""What a gateway does with the config store: read `<service>/latest.json` as plain JSON (no llmopt code)."""

import json


def read_latest(store, service: str) -> dict | None:
    raw = store.read(f"{service}/latest.json")
    return None if raw is None else json.loads(raw)
