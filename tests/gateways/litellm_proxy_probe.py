"""Run with a Python that has `litellm[proxy]` (not llmopt's venv): load a proxy config with the proxy's own
loader (`ProxyConfig.load_config`, what `litellm --config` and the bucket boot run) and write what it built —
every deployment's alias, `model_info.id`, model and weight; the router's fallbacks, strategy and retries.
Usage: python litellm_proxy_probe.py OUT.json [CONFIG.yaml]  (no CONFIG: from `LITELLM_CONFIG_BUCKET_*`)."""

import asyncio
import json
import os
import sys

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")       # no network: the bundled cost map

from litellm.proxy.proxy_server import ProxyConfig  # noqa: E402

out, config_file = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
router, model_list, _ = asyncio.run(ProxyConfig().load_config(router=None, config_file_path=config_file))
json.dump({"deployments": [{"model_name": d["model_name"], "id": d["model_info"]["id"],
                            "model": d["litellm_params"]["model"], "weight": d["litellm_params"].get("weight")}
                           for d in model_list],
           "fallbacks": router.fallbacks, "routing_strategy": router.routing_strategy,
           "num_retries": router.num_retries}, open(out, "w"))
