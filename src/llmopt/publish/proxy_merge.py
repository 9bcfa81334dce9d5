"""The organisation's LiteLLM proxy config: the user's base file merged with every service's aliases.

The proxy loads one YAML (from a file or `LITELLM_CONFIG_BUCKET_*`): `general_settings`, `litellm_settings`,
`router_settings`, `model_list`. llmopt publishes each service's router separately, so the proxy's file is made
here: the base file's sections as written, its `model_list` followed by every service's deployments, its
`router_settings` with llmopt's `fallbacks` appended.

Merged here rather than with the proxy's `include:`: LiteLLM 1.106.0 (`proxy/common_utils/config_includes.py`)
extends top-level lists and replaces every other value, so an included `router_settings` would drop the
user's; a `model_name` in both files silently becomes one load-balanced group; and each included object is read
separately at boot, so a proxy can start on a base and a services file from different publishes. One merged
object is one version: checked whole (clashes refused), written atomically, rolled out by one number.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from llmopt.publish.exports import check_export, litellm_router
from llmopt.publish.service_config import ConfigSchemaError

# weights (canaries, experiments) are read by LiteLLM's simple-shuffle only (router_strategy/simple_shuffle.py)
ROUTING_STRATEGY = "simple-shuffle"


class ProxyConfigClash(ConfigSchemaError):
    """The base file and llmopt (or two services) claim one name with different meanings (names both)."""


def load_base(path: Path | str | None) -> dict:
    """The user's base proxy config (`litellm_base_config`), checked for the sections llmopt merges into.

    Raises:
        ConfigSchemaError: not a YAML mapping, a malformed `model_list` / `router_settings`, or an `include:`.
    """
    if path is None:
        return {}
    where = f"litellm_base_config {path}"
    base = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(base, dict):
        raise ConfigSchemaError(f"{where}: expected a YAML mapping (general_settings, litellm_settings, …)")
    if "include" in base:
        # relative includes would resolve next to llmopt's object in the bucket, not next to this file
        raise ConfigSchemaError(f"{where}: `include` is not supported; put the included sections in the base file")
    models = base.get("model_list") or []
    if not isinstance(models, list) or not all(isinstance(m, dict) and isinstance(m.get("model_name"), str)
                                               and isinstance(m.get("litellm_params"), dict) for m in models):
        raise ConfigSchemaError(f"{where}: model_list must be a list of {{model_name, litellm_params}} entries")
    if not isinstance(base.get("router_settings") or {}, dict):
        raise ConfigSchemaError(f"{where}: router_settings must be a mapping")
    return base


def deployment_id(service: str, alias: str, model: str, occurrence: int = 0) -> str:
    """A deployment's `model_info.id`: the same service, alias and model keep it across versions.

    The proxy keys deployments by this id (without one it hashes all `litellm_params`, so a weight change
    would make a new deployment). `occurrence` tells apart one model listed twice under one alias (two
    experiment variants); `service` is empty for the org-wide `<provider>/<model>` fallback aliases.
    """
    key = "\x1f".join([service, alias, model, str(occurrence)])
    return "llmopt-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _service_entries(config: dict, providers: dict[str, str] | None, contracts_dir: Path | None):
    """(owner, entries with ids, fallbacks) of one service's router, grouped by alias."""
    router = litellm_router(config, providers)
    if contracts_dir is not None:
        check_export("litellm", router, contracts_dir)
    service = config["service"]
    tasks = {f"{service}/{task}" for task in config["routes"]}
    by_alias: dict[str, list[dict]] = {}
    for entry in router["model_list"]:
        alias, model = entry["model_name"], entry["litellm_params"]["model"]
        group = by_alias.setdefault(alias, [])
        scope = service if alias in tasks else ""
        occurrence = sum(1 for e in group if e["litellm_params"]["model"] == model)
        group.append({**entry, "model_info": {"id": deployment_id(scope, alias, model, occurrence)}})
    owners = {alias: f"service {service}'s " + ("task alias" if alias in tasks else "fallback deployment")
              for alias in by_alias}
    fallbacks = {alias: chain for f in router["router_settings"].get("fallbacks", []) for alias, chain in f.items()}
    return owners, by_alias, fallbacks


def merge_proxy_config(base: dict, configs: list[dict], providers: dict[str, str] | None = None,
                       contracts_dir: Path | None = None, base_name: str = "litellm_base_config") -> dict:
    """The proxy config: `base` with every service's deployments and fallbacks (services in name order).

    Args:
        base: the user's base config (`load_base`).
        configs: every service's current config (its `latest.json`).
        providers: LiteLLM provider-name overrides (settings `gateway_providers.litellm`).
        contracts_dir: when given, each service's router is checked against the LiteLLM export schema.

    Raises:
        ProxyConfigClash: a `model_name`, fallback or `model_info.id` claimed by the base file and llmopt, or by
            two services with different deployments; a base `routing_strategy` that ignores weights.
    """
    owner = {m["model_name"]: f"a model_list entry of {base_name}" for m in base.get("model_list") or []}
    router = dict(base.get("router_settings") or {})
    fallback_owner = {alias: f"{base_name} router_settings.fallbacks"
                      for f in router.get("fallbacks") or [] for alias in f}
    ours: dict[str, list[dict]] = {}
    fallbacks: dict[str, list[str]] = {}
    for config in sorted(configs, key=lambda c: c["service"]):
        owners, by_alias, chains = _service_entries(config, providers, contracts_dir)
        for alias, entries in by_alias.items():
            if alias in owner and ours.get(alias) != entries:
                raise ProxyConfigClash(f"model_name {alias!r} is both {owner[alias]} and {owners[alias]}, "
                                       "with different deployments; rename one of them")
            owner.setdefault(alias, owners[alias])
            ours[alias] = entries
        for alias, chain in chains.items():
            if alias in fallback_owner and fallbacks.get(alias) != chain:
                raise ProxyConfigClash(f"fallbacks of {alias!r} are set in {fallback_owner[alias]} and by "
                                       f"{owners[alias]} ({chain}); remove one of them")
            fallback_owner.setdefault(alias, owners[alias])
            fallbacks[alias] = chain
    strategy = router.setdefault("routing_strategy", ROUTING_STRATEGY)
    if strategy != ROUTING_STRATEGY:
        raise ProxyConfigClash(f"{base_name} router_settings.routing_strategy is {strategy!r}, but llmopt's "
                               f"weighted canaries and experiments need {ROUTING_STRATEGY!r}")
    model_list = list(base.get("model_list") or []) + [e for entries in ours.values() for e in entries]
    _check_ids(model_list, base_name)
    if fallbacks:
        router["fallbacks"] = list(router.get("fallbacks") or []) + [{a: c} for a, c in fallbacks.items()]
    merged = {key: value for key, value in base.items() if key not in ("model_list", "router_settings")}
    return {**merged, "model_list": model_list, "router_settings": router}


def _check_ids(model_list: list[dict], base_name: str) -> None:
    """The proxy keeps one deployment per `model_info.id`; a repeated id would drop one silently."""
    seen: dict[str, str] = {}
    for entry in model_list:
        found = (entry.get("model_info") or {}).get("id")
        if found is None:
            continue
        if str(found) in seen:
            raise ProxyConfigClash(f"model_info.id {found!r} is used by {seen[str(found)]!r} and by "
                                   f"{entry['model_name']!r} (check {base_name})")
        seen[str(found)] = entry["model_name"]
