"""Each gateway's own name for a provider, and a clear error for one it cannot serve.

Request logs name providers as teams do (`fireworks`, `together`, `azure`); LiteLLM and Portkey each have
their own vocabulary, and an export must use it or the gateway rejects it. The tables were read from the
clients themselves: LiteLLM 1.106 (`litellm.types.utils.LlmProviders`) and Portkey gateway 1.15.2
(`src/globals.ts`). `gateway_providers` in the settings adds to or overrides them, e.g. to send an
OpenAI-compatible provider through LiteLLM's `openai` client.
"""

from __future__ import annotations

LITELLM = {
    "openai": "openai", "azure": "azure", "azure-openai": "azure", "anthropic": "anthropic", "bedrock": "bedrock",
    "groq": "groq", "fireworks": "fireworks_ai", "fireworks_ai": "fireworks_ai", "fireworks-ai": "fireworks_ai",
    "together": "together_ai", "together_ai": "together_ai", "together-ai": "together_ai",
    "perplexity": "perplexity", "perplexity-ai": "perplexity", "replicate": "replicate", "mistral": "mistral",
    "mistral-ai": "mistral", "vertex_ai": "vertex_ai", "gemini": "gemini", "cohere": "cohere",
    "deepinfra": "deepinfra",
}
PORTKEY = {
    "openai": "openai", "azure": "azure-openai", "azure-openai": "azure-openai", "anthropic": "anthropic",
    "anyscale": "anyscale", "bedrock": "bedrock", "groq": "groq", "fireworks": "fireworks-ai",
    "fireworks_ai": "fireworks-ai", "fireworks-ai": "fireworks-ai", "together": "together-ai",
    "together_ai": "together-ai", "together-ai": "together-ai", "perplexity": "perplexity-ai",
    "perplexity-ai": "perplexity-ai", "mistral": "mistral-ai", "mistral-ai": "mistral-ai", "replicate": "replicate",
    "lepton": "lepton",
}
TABLES = {"litellm": LITELLM, "portkey": PORTKEY}


class UnservableProvider(ValueError):
    """A provider the gateway has no client for: no export is written rather than one it would reject."""


def gateway_provider(gateway: str, provider: str, model: str, overrides: dict[str, str] | None = None) -> str:
    """The gateway's name for `provider`.

    Raises:
        UnservableProvider: neither the table nor `overrides` names it.
    """
    found = (overrides or {}).get(provider) or TABLES[gateway].get(provider)
    if found is None:
        raise UnservableProvider(
            f"{gateway} export: provider {provider!r} (model {model!r}) has no {gateway} client; map it in "
            f"settings gateway_providers.{gateway} (e.g. {provider}: openai for an OpenAI-compatible endpoint)")
    return found
