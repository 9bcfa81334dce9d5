"""Prices in LiteLLM's price-map format (USD per token) and per-request cost."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class ModelPrice:
    """USD per token for one model; cached input falls back to the input price when unknown."""

    model: str
    provider: str
    input_usd_per_token: float
    output_usd_per_token: float
    cached_input_usd_per_token: float
    cache_write_input_usd_per_token: float | None = None   # when a provider charges extra to write its cache
    mode: str | None = None              # LiteLLM's `mode`: chat, completion, embedding, …
    supports_reasoning: bool = False     # bills hidden reasoning tokens as output
    deprecation_date: str | None = None  # ISO date the provider retires it, when the map knows one
    max_input_tokens: int | None = None  # its context window for the prompt


def _tokens(value) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class PriceMap:
    """Model prices, looked up by model id as LiteLLM names it (`gpt-4o`, `mistral/mistral-small`)."""

    def __init__(self, prices: dict[str, ModelPrice]):
        self._prices = prices

    @classmethod
    def from_file(cls, path: Path | str) -> PriceMap:
        """Read a LiteLLM-format JSON price map; entries without token prices are skipped."""
        raw = json.loads(Path(path).read_text())
        prices = {}
        for model, entry in raw.items():
            if not isinstance(entry, dict):
                continue
            inp, out = entry.get("input_cost_per_token"), entry.get("output_cost_per_token")
            if inp is None or out is None:
                continue
            cached = entry.get("cache_read_input_token_cost")
            write = entry.get("cache_creation_input_token_cost")
            prices[model] = ModelPrice(model, str(entry.get("litellm_provider") or "unknown"),
                                       float(inp), float(out), float(cached if cached is not None else inp),
                                       float(write) if write is not None else None, entry.get("mode"),
                                       bool(entry.get("supports_reasoning")), entry.get("deprecation_date"),
                                       _tokens(entry.get("max_input_tokens")))
        return cls(prices)

    def get(self, model: str, provider: str | None = None) -> ModelPrice | None:
        """Return the price of `model` (also tried as `provider/model`), or None if unknown."""
        found = self._prices.get(model)
        if found is None and provider:
            found = self._prices.get(f"{provider}/{model}")
        return found

    def provider_of(self, model: str) -> str | None:
        """The provider the map lists for `model` (`litellm_provider`), or None."""
        found = self.get(model)
        return None if found is None or found.provider == "unknown" else found.provider

    def __contains__(self, model: str) -> bool:
        return model in self._prices

    def entries(self) -> list[ModelPrice]:
        """Every priced model, in the map's order."""
        return list(self._prices.values())

    def request_cost_usd(self, model: str, prompt_tokens, completion_tokens, cached_tokens):
        """Cost of requests on `model`: uncached input + cached input + output, at list prices.

        Works on scalars or aligned arrays. Returns NaN where the model has no price.
        """
        price = self.get(model)
        if price is None:
            return np.full(np.shape(prompt_tokens), np.nan) if np.ndim(prompt_tokens) else float("nan")
        prompt = np.asarray(prompt_tokens, dtype=float)
        cached = np.nan_to_num(np.asarray(cached_tokens, dtype=float), nan=0.0)   # unreported: none were cached
        completion = np.asarray(completion_tokens, dtype=float)
        return ((prompt - cached) * price.input_usd_per_token
                + cached * price.cached_input_usd_per_token
                + completion * price.output_usd_per_token)

    def fill_cost(self, frame: pd.DataFrame) -> pd.Series:
        """Return `cost_usd` where logged, else the list-price cost of each row (NaN if unpriced)."""
        cost = pd.to_numeric(frame["cost_usd"], errors="coerce").astype(float).to_numpy(copy=True)
        missing = np.isnan(cost)
        if missing.any():
            sub = frame.loc[missing, ["model", "prompt_tokens", "completion_tokens"]].assign(   # null: none cached
                cached_tokens=pd.to_numeric(frame.loc[missing, "cached_tokens"], errors="coerce").fillna(0)
                if "cached_tokens" in frame else 0)
            filled = np.full(len(sub), np.nan)
            for model, idx in sub.groupby("model", sort=False).indices.items():
                rows = sub.iloc[idx]
                filled[idx] = self.request_cost_usd(model, rows["prompt_tokens"], rows["completion_tokens"],
                                                    rows["cached_tokens"])
            cost[missing] = filled
        return pd.Series(cost, index=frame.index, name="cost_usd")
