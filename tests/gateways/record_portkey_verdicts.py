"""Record what the real Portkey gateway says of each case in portkey_cases.py (run by hand, not in CI).

CI has no npm registry, so the suite checks llmopt's Portkey schema against these recorded verdicts of the
real gateway (tests/gateways/test_gateways.py). Re-record when moving to a new gateway version:

    npm install @portkey-ai/gateway@1.15.2 && node node_modules/@portkey-ai/gateway/build/start-server.js &
    .venv/bin/python -m tests.gateways.record_portkey_verdicts http://127.0.0.1:8787 1.15.2

Every target is pointed at a loopback port fetch refuses (custom_host http://127.0.0.1:9), so an accepted
config fails locally after validation and nothing leaves the machine. HTTP 400 "Invalid config passed" is a
refusal; anything else means the gateway accepted the config.
"""

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tests.gateways.portkey_cases import cases

OUT = Path(__file__).resolve().parents[1] / "data" / "gateways"


def verdict(gateway: str, config: dict) -> dict:
    local = {**config, "targets": [{**t, "custom_host": "http://127.0.0.1:9/v1"} for t in config["targets"]]}
    request = urllib.request.Request(f"{gateway}/v1/chat/completions", method="POST",
                                     data=json.dumps({"model": "x", "messages": [{"role": "user", "content": "hi"}]})
                                     .encode(), headers={"content-type": "application/json",
                                                         "x-portkey-config": json.dumps(local)})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as err:
        status, body = err.code, err.read()
    text = body.decode(errors="replace")
    refused = status == 400 and "Invalid config" in text
    return {"accepted": not refused, "status": status, "errors": json.loads(text).get("errors") if refused else None}


def main(gateway: str, version: str) -> None:
    found = {name: {"config": config, **verdict(gateway, config)} for name, config in cases().items()}
    probe = verdict(gateway, {"targets": [{"provider": "no-such-provider", "retry": {"attempts": 0}}],
                              "strategy": {"mode": "single"}})
    providers = probe["errors"][0].split("Must be one of: ", 1)[1].split(", ")
    path = OUT / f"portkey-{version}-verdicts.json"
    path.write_text(json.dumps({"gateway": f"@portkey-ai/gateway {version}", "providers": providers,
                                "cases": found}, indent=2) + "\n")
    print(f"{path}: {sum(c['accepted'] for c in found.values())} accepted, "
          f"{sum(not c['accepted'] for c in found.values())} refused, {len(providers)} providers")


if __name__ == "__main__":
    main(*sys.argv[1:3])
