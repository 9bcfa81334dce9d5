"""Portkey configs to put before the real gateway: llmopt's own exports, and shapes it must refuse."""

from llmopt.publish.exports import portkey_configs

SERVICE = {
    "service": "support",
    "routes": {"classify_ticket": {"model": "gpt-4o-mini", "provider": "openai", "max_tokens": 64},
               "draft_reply": {"model": "claude-3-5-sonnet-20240620", "provider": "anthropic"},
               "summarize": {"model": "gpt-4o", "provider": "openai"},
               "extract": {"model": "gpt-4o", "provider": "openai", "max_tokens": 256,
                           "canary": {"model": "claude-3-haiku-20240307", "provider": "anthropic", "weight": 0.1,
                                      "started_at": "2026-11-20T12:00:00+00:00"}},
               "llama": {"model": "accounts/fireworks/models/llama-v2-70b-chat", "provider": "fireworks"}},
    "model_settings": {
        "claude-3-5-sonnet-20240620": {"provider": "anthropic", "timeout_s": 12.5, "retries": 2,
                                       "fallbacks": [{"model": "gpt-4o", "provider": "openai"},
                                                     {"model": "llama2-70b", "provider": "lepton"}]},
        "accounts/fireworks/models/llama-v2-70b-chat": {
            "provider": "fireworks", "timeout_s": None, "retries": 0,
            "fallbacks": [{"model": "togethercomputer/llama-2-70b-chat", "provider": "together"},
                          {"model": "meta-llama/Llama-2-70b-chat-hf", "provider": "anyscale"},
                          {"model": "meta.llama2-70b-chat-v1", "provider": "bedrock"}]}},
    "experiments": [{"id": "sum", "task_type": "summarize", "salt": "s", "control": "a", "status": "running",
                     "call": None, "variants": [{"name": "a", "weight": 0.8, "model": "gpt-4o", "provider": "openai"},
                                                {"name": "b", "weight": 0.2, "model": "gpt-4o-mini",
                                                 "provider": "openai"}]}],
}
BARE_TARGET = {"provider": "openai", "override_params": {"model": "gpt-4o"}}


def cases() -> dict[str, dict]:
    """name → one task's Portkey config; names starting with `bad:` are shapes the gateway refuses."""
    out = {f"llmopt:{task}": config for task, config in portkey_configs(SERVICE).items()}
    out["bad:target without retry, timeout or key"] = {"strategy": {"mode": "single"}, "targets": [BARE_TARGET]}
    out["bad:fallback target without retry"] = {"strategy": {"mode": "fallback"}, "targets": [
        {**BARE_TARGET, "retry": {"attempts": 1}}, BARE_TARGET]}
    out["bad:llmopt's provider name, not Portkey's"] = {"strategy": {"mode": "single"}, "targets": [
        {"provider": "fireworks", "override_params": {"model": "m"}, "retry": {"attempts": 0}}]}
    out["ok:request_timeout alone"] = {"strategy": {"mode": "single"}, "targets": [
        {**BARE_TARGET, "request_timeout": 5000}]}
    return out
