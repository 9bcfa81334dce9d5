"""Run with a Python that has litellm (not llmopt's venv): build LiteLLM's real Router from an llmopt export
(JSON form of the YAML) and route every alias with a mock response; print, per alias, what the Router handed
to litellm.completion — model, timeout, num_retries, max_tokens. Usage: python litellm_probe.py EXPORT.json"""

import json
import os
import sys

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")       # no network: the bundled cost map

import litellm  # noqa: E402
from litellm import Router  # noqa: E402

body = json.load(open(sys.argv[1]))
client_max_tokens = int(sys.argv[2]) if len(sys.argv) > 2 else None
sent = []
original = litellm.completion


def recording(*args, **kwargs):
    sent.append({k: kwargs.get(k) for k in ("model", "timeout", "num_retries", "max_tokens")})
    return original(*args, **kwargs)


litellm.completion = recording
router = Router(model_list=body["model_list"], **body["router_settings"])
out = {}
for alias in sorted({m["model_name"] for m in body["model_list"]}):
    sent.clear()
    extra = {"max_tokens": client_max_tokens} if client_max_tokens else {}
    response = router.completion(model=alias, messages=[{"role": "user", "content": "hi"}], mock_response="ok",
                                 **extra)
    out[alias] = {**sent[-1], "answer": response.choices[0].message.content}
print(json.dumps(out))
