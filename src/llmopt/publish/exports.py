"""Gateway formats of a published config: a LiteLLM router config and Portkey gateway configs.

LiteLLM (proxy `config.yaml` / `Router(**…)`): one `model_list` entry per task route, aliased
`<service>/<task_type>`, plus one per deployment with fallbacks and per fallback deployment, aliased
`<provider>/<model>`; `router_settings` carries
`num_retries`, `timeout` and `fallbacks: [{alias: [aliases]}]`. A running experiment becomes several
deployments under one alias with `weight`s (LiteLLM shuffles at random; only `llmopt.client.assign`
reproduces llmopt's deterministic split); so does a route's `canary` (the route's model at 1 − weight, the canary's
at weight).
Portkey: one config per task type — `single`, `fallback` (targets in order, on 429/5xx) or
`loadbalance` (experiment or canary weights) — with `retry` and `request_timeout` (ms) per target.
Both are checked against JSON Schemas of the documented shapes in `data_contracts/exports/`.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from llmopt.publish.providers import gateway_provider

FORMATS = ("litellm", "portkey")
RETRY_ON = [429, 500, 502, 503, 504]
SUFFIX = {"litellm": "litellm.yaml", "portkey": "portkey.json"}
LITELLM_NOTE = ("# llmopt export for LiteLLM's Router. num_retries and timeout are per deployment (no router-wide value).\n"
                "# A deployment's max_tokens is only a default: a request that sends its own max_tokens overrides it,\n"
                "# so LiteLLM cannot enforce the limit (Portkey's override_params does).\n")


def _deployment(config: dict, model: str) -> dict:
    return config.get("model_settings", {}).get(model, {})


def _running(config: dict) -> dict[str, dict]:
    return {e["task_type"]: e for e in config.get("experiments", []) if e["status"] == "running"}


def litellm_router(config: dict, providers: dict[str, str] | None = None) -> dict:
    """The LiteLLM router config of a native llmopt config (`providers`: overrides of the provider table)."""
    model_list, fallbacks = [], []
    running = _running(config)

    def entry(alias: str, model: str, provider: str, weight: float | None = None, limit: int | None = None) -> dict:
        settings = _deployment(config, model)
        prefix = gateway_provider("litellm", provider, model, providers)
        # a model id that already names LiteLLM's provider (together_ai/…) is not prefixed twice
        params = {"model": model if model.startswith(f"{prefix}/") else f"{prefix}/{model}"}
        if limit:
            params["max_tokens"] = limit
        if settings.get("timeout_s"):
            params["timeout"] = settings["timeout_s"]
        # per deployment: LiteLLM 1.106 prefers a deployment's num_retries to the router's (router.py)
        params["num_retries"] = int(settings.get("retries") or 0)
        if weight is not None:
            params["weight"] = weight
        return {"model_name": alias, "litellm_params": params}

    for task, route in sorted(config["routes"].items()):
        alias = f"{config['service']}/{task}"
        if task in running:
            model_list += [entry(alias, v["model"], v["provider"], v["weight"]) for v in running[task]["variants"]]
        elif route.get("canary"):      # a ramp: two weighted deployments under the task's alias
            canary = route["canary"]
            model_list += [entry(alias, route["model"], route["provider"], round(1 - canary["weight"], 6),
                                 route.get("max_tokens")),
                           entry(alias, canary["model"], canary["provider"], canary["weight"])]
        else:
            model_list.append(entry(alias, route["model"], route["provider"], limit=route.get("max_tokens")))
        chain = _deployment(config, route["model"]).get("fallbacks", [])
        if chain:
            fallbacks.append({alias: [f"{f['provider']}/{f['model']}" for f in chain]})
            for f in chain:
                if not any(m["model_name"] == f"{f['provider']}/{f['model']}" for m in model_list):
                    model_list.append(entry(f"{f['provider']}/{f['model']}", f["model"], f["provider"]))
    # every deployment with fallbacks is also addressable by its own alias, with its fallback chain
    for model, settings in sorted(config.get("model_settings", {}).items()):
        alias = f"{settings['provider']}/{model}"
        routed = any(r["model"] == model for r in config["routes"].values())
        if not settings.get("fallbacks") or routed:      # a routed model's chain is on its task alias
            continue
        if not any(m["model_name"] == alias for m in model_list):
            model_list.append(entry(alias, model, settings["provider"]))
        fallbacks.append({alias: [f"{f['provider']}/{f['model']}" for f in settings["fallbacks"]]})
        for f in settings["fallbacks"]:
            if not any(m["model_name"] == f"{f['provider']}/{f['model']}" for m in model_list):
                model_list.append(entry(f"{f['provider']}/{f['model']}", f["model"], f["provider"]))
    # no router-wide timeout: it would cover deployments llmopt left without one; num_retries 0 is only the
    # fallback for deployments without their own (every deployment here has one)
    router = {"routing_strategy": "simple-shuffle", "num_retries": 0}
    if fallbacks:
        router["fallbacks"] = fallbacks
    return {"model_list": model_list, "router_settings": router}


def portkey_configs(config: dict, providers: dict[str, str] | None = None) -> dict[str, dict]:
    """task_type → the Portkey gateway config for that task's requests.

    Every target carries `retry` (attempts 0 where llmopt set no retries): Portkey 1.15.2 refuses a target
    that has neither `provider` and `api_key`, nor `retry`, `request_timeout` or `cache` (its configSchema),
    and exports carry no credentials.
    """
    running = _running(config)

    def target(model: str, provider: str, weight: float | None = None, limit: int | None = None) -> dict:
        settings = _deployment(config, model)
        out = {"provider": gateway_provider("portkey", provider, model, providers),
               "override_params": {"model": model, **({"max_tokens": limit} if limit else {})}}
        if weight is not None:
            out["weight"] = weight
        out["retry"] = {"attempts": int(settings.get("retries") or 0), "on_status_codes": RETRY_ON}
        if settings.get("timeout_s"):
            out["request_timeout"] = int(settings["timeout_s"] * 1000)
        return out

    out = {}
    for task, route in sorted(config["routes"].items()):
        chain = _deployment(config, route["model"]).get("fallbacks", [])
        if task in running:
            out[task] = {"strategy": {"mode": "loadbalance"},
                         "targets": [target(v["model"], v["provider"], v["weight"]) for v in running[task]["variants"]]}
        elif route.get("canary"):
            canary = route["canary"]
            out[task] = {"strategy": {"mode": "loadbalance"},
                         "targets": [target(route["model"], route["provider"], round(1 - canary["weight"], 6),
                                            route.get("max_tokens")),
                                     target(canary["model"], canary["provider"], canary["weight"])]}
        elif chain:
            out[task] = {"strategy": {"mode": "fallback", "on_status_codes": RETRY_ON},
                         "targets": [target(route["model"], route["provider"], limit=route.get("max_tokens"))]
                         + [target(f["model"], f["provider"]) for f in chain]}
        else:
            out[task] = {"strategy": {"mode": "single"},
                         "targets": [target(route["model"], route["provider"], limit=route.get("max_tokens"))]}
    return out


def check_export(kind: str, body: dict, contracts_dir: Path) -> None:
    """Raise ValueError naming the field if `body` breaks the documented shape of `kind`."""
    schema = json.loads((Path(contracts_dir) / "exports" / f"{kind}.schema.json").read_text())
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "<root>"
        raise ValueError(f"{kind} export: {where}: {errors[0].message}")


def render(kind: str, config: dict, contracts_dir: Path, providers: dict[str, dict[str, str]] | None = None) -> bytes:
    """The checked export of `config` as file bytes (YAML for LiteLLM, JSON for Portkey).

    Args:
        providers: per gateway, provider-name overrides (settings `gateway_providers`).

    Raises:
        UnservableProvider: a provider the gateway has no client for (nothing is exported).
    """
    if kind not in FORMATS:
        raise ValueError(f"export format {kind!r}: expected one of {FORMATS}")
    own = (providers or {}).get(kind)
    body = litellm_router(config, own) if kind == "litellm" else portkey_configs(config, own)
    check_export(kind, body, contracts_dir)
    if kind == "litellm":
        return (LITELLM_NOTE + yaml.safe_dump(body, sort_keys=False)).encode()
    return json.dumps(body, indent=2).encode()
