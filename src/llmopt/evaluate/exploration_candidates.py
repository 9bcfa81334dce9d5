"""Which models an exploration tries on a task, and why there are none when there are none.

The pool, first rule that applies:
1. `exploration_candidates`, when set: exactly those.
2. `allowed_models`, when set: those (a proposal could only add models that routing would refuse anyway).
3. Otherwise every model already seen in the lookback, plus the models the price map proposes (below).
Each is priced on the task's own token mix (prompt and cached tokens of its requests; for a model with no
traffic, the serving model's mean completion length) and stays a candidate when it saves more than
`min_savings_usd_per_day`.

The proposal, from the price map (LiteLLM's format): the entries in the serving model's `mode` (chat) and
provider family (`litellm_provider` up to its first "-", so `vertex_ai-language-models` and
`vertex_ai-anthropic_models` are one family: the gateway already holds that provider's credentials), that are
- priced (input and output above 0: a zero price is unknown, not free),
- not a fine-tune (`ft:`: it belongs to one account), not past their `deprecation_date`,
- not a special-purpose variant (audio, realtime, search, transcription, speech, image),
- of the serving model's kind: reasoning only if the serving model reasons (a reasoning model bills hidden
  reasoning tokens as output, so the serving model's completion lengths would understate its cost),
- with a context window (`max_input_tokens`) at least the serving model's: a switch must still take every
  prompt the application sends (this also keeps out older generations, e.g. 16k-token gpt-3.5-turbo for gpt-4o),
- cheaper per request on the task's token mix,
with one entry per model: aliases and dated snapshots (`openai/gpt-4o-mini`, `gpt-4o-mini-2024-07-18`) share a
name without prefix and date stamp, and the shortest id stands for them.

They are taken closest in price first, up to `exploration_max_candidates`. Why that order rather than the
cheapest first: within one provider, price tracks capability, so the nearest cheaper models are the likeliest
to be good enough — an exploration that ends in a switch is worth more than one whose every candidate is
dropped (the task then waits `exploration_cooldown_hours` with nothing learned) — and they cost the least
quality while explored, so the quality-loss budget lets more traffic through and the test decides sooner.
Savings are not given up: the exploration still switches to the cheapest winner, and the next exploration
(after the cooldown) starts from the new serving model, so a task walks down the price ladder one safe step
at a time. Name `exploration_candidates` to jump further at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from llmopt.evaluate.registry import EvaluationInputs
from llmopt.evaluate.routing import RoutingEvaluation
from llmopt.prices import ModelPrice, PriceMap
from llmopt.settings import Guardrails

DATE_STAMP = re.compile(r"(-\d{4}-\d{2}-\d{2}|-\d{8}|-\d{4}|@\d+|@latest|-latest)$")
SPECIAL_PURPOSE = {"audio", "realtime", "search", "transcribe", "tts", "image"}


@dataclass(frozen=True)
class ProposedModel:
    """A model the price map proposes, with its cost per request on the task's token mix."""

    model: str
    provider: str
    cost_usd_per_request: float


@dataclass(frozen=True)
class PoolEntry:
    """A candidate worth exploring: its savings per day if it served the task, and where it came from."""

    model: str
    provider: str
    savings_usd_per_day: float
    source: str          # exploration_candidates | allowed_models | seen | proposed


@dataclass(frozen=True)
class CandidatePool:
    """The task's candidates; when there are none, `why_none` says why in words a user can act on."""

    entries: tuple[PoolEntry, ...]
    why_none: str = ""


def canonical_name(model: str) -> str:
    """A model id without its route prefix and date stamps: `openai/gpt-4o-mini-2024-07-18` → `gpt-4o-mini`."""
    name, previous = model.rsplit("/", 1)[-1], None
    while name != previous:
        previous, name = name, DATE_STAMP.sub("", name)
    return name


def provider_family(provider: str) -> str:
    """`vertex_ai-anthropic_models` → `vertex_ai`; `openai` → `openai`."""
    return provider.split("-", 1)[0]


def _retired(price: ModelPrice, today: date) -> bool:
    try:
        return date.fromisoformat(str(price.deprecation_date)[:10]) <= today
    except ValueError:          # no date (None) or not one: the map does not say it is retired
        return False


def _fits(price: ModelPrice, serving: ModelPrice) -> bool:
    """Its context window takes every prompt the serving model's takes (unknown only when the serving one is)."""
    if serving.max_input_tokens is None:
        return True
    return price.max_input_tokens is not None and price.max_input_tokens >= serving.max_input_tokens


def _usable(price: ModelPrice, serving: ModelPrice, today: date) -> bool:
    words = set(re.split(r"[-/:._@]", price.model.lower()))
    return (price.input_usd_per_token > 0 and price.output_usd_per_token > 0 and "ft:" not in price.model
            and not words & SPECIAL_PURPOSE and price.supports_reasoning == serving.supports_reasoning
            and not _retired(price, today) and _fits(price, serving))


def mix_cost(price: ModelPrice, uncached_tokens: float, cached_tokens: float, completion_tokens: float) -> float:
    """Mean cost per request at list prices (cost is linear in the tokens, so the mean mix gives the mean cost)."""
    return (uncached_tokens * price.input_usd_per_token + cached_tokens * price.cached_input_usd_per_token
            + completion_tokens * price.output_usd_per_token)


def propose_candidates(prices: PriceMap, serving_model: str, prompt_tokens, cached_tokens, completion_tokens: float,
                       limit: int, today: date, serving_provider: str | None = None,
                       max_cost_usd_per_request: float | None = None) -> list[ProposedModel]:
    """The price map's cheaper models for a task served by `serving_model` (rules and order: the module docstring).

    Args:
        prompt_tokens, cached_tokens: the task's requests (arrays), or their means.
        completion_tokens: the serving model's mean completion length on the task.
        max_cost_usd_per_request: a lower ceiling than the serving model's own cost (e.g. for a minimum saving).
    """
    serving = prices.get(serving_model, serving_provider)
    if serving is None:
        return []
    cached = float(np.mean(cached_tokens))
    uncached = float(np.mean(prompt_tokens)) - cached
    ceiling = mix_cost(serving, uncached, cached, completion_tokens)
    if max_cost_usd_per_request is not None:
        ceiling = min(ceiling, max_cost_usd_per_request)
    family, kept = provider_family(serving.provider), {}
    for price in prices.entries():
        if (price.model == serving.model or price.mode != serving.mode
                or provider_family(price.provider) != family or not _usable(price, serving, today)):
            continue
        cost = mix_cost(price, uncached, cached, completion_tokens)
        name = canonical_name(price.model)
        best = kept.get(name)
        if cost < ceiling and (best is None or (len(price.model), price.model) < (len(best.model), best.model)):
            kept[name] = ProposedModel(price.model, price.provider, cost)
    return sorted(kept.values(), key=lambda p: (-p.cost_usd_per_request, p.model))[:limit]


def task_mix(ev: RoutingEvaluation, inputs: EvaluationInputs) -> tuple[pd.DataFrame, float]:
    """The task's requests (its token mix) and the serving model's mean completion length on it."""
    valid = inputs.valid
    mix = valid[(valid["service"] == ev.service) & (valid["task_type"] == ev.task_type)]
    serving_rows = mix[(mix["model"] == ev.current_model) & (mix["status"] == "ok")]
    return mix, float(serving_rows["completion_tokens"].mean()) if len(serving_rows) else 0.0


def savings_of(ev: RoutingEvaluation, inputs: EvaluationInputs, model: str, mix: pd.DataFrame,
               completion: float) -> tuple[str, float] | None:
    """(provider, savings per day) if `model` served the whole task; None when it cannot be priced."""
    routed = next((c for c in ev.candidates if c.model == model), None)
    price = inputs.prices.get(model)
    if routed is not None and np.isfinite(routed.predicted_cost_usd_per_request):
        cost, provider = routed.predicted_cost_usd_per_request, routed.provider
    elif price is not None and len(mix):
        cost = float(np.mean(inputs.prices.request_cost_usd(model, mix["prompt_tokens"], completion,
                                                            mix["cached_tokens"])))
        provider = price.provider
    else:
        return None
    return provider, float(ev.current.predicted_cost_usd_per_day - cost * ev.task_requests * 24.0 / ev.window_hours)


def candidate_pool(ev: RoutingEvaluation, inputs: EvaluationInputs, rules: Guardrails, limit: int) -> CandidatePool:
    """Every candidate of the task that saves more than `min_savings_usd_per_day` (rules: the module docstring)."""
    floor = max(rules.min_savings_usd_per_day, 0.0)
    mix, completion = task_mix(ev, inputs)
    seen = sorted(set(inputs.cells["model"]) if inputs.cells is not None else set())
    named_as = ("exploration_candidates" if rules.exploration_candidates else
                "allowed_models" if rules.allowed_models else None)
    if named_as:
        listed = [(m, named_as) for m in getattr(rules, named_as)]
    else:
        per_day = ev.task_requests * 24.0 / max(ev.window_hours, 1e-9)
        proposed = (propose_candidates(inputs.prices, ev.current_model, mix["prompt_tokens"], mix["cached_tokens"],
                                       completion, limit, inputs.window.end.date(), ev.current.provider,
                                       (ev.current.predicted_cost_usd_per_day - floor) / per_day)
                    if per_day > 0 and len(mix) else [])
        listed = [(m, "seen") for m in seen] + [(p.model, "proposed") for p in proposed if p.model not in seen]
    entries = []
    for model, source in listed:
        priced = savings_of(ev, inputs, model, mix, completion) if model != ev.current_model else None
        if priced is not None and priced[1] > floor:
            entries.append(PoolEntry(model, priced[0], priced[1], source))
    return CandidatePool(tuple(entries), "" if entries else _why_none(ev, inputs, named_as, rules, floor))


def _why_none(ev: RoutingEvaluation, inputs: EvaluationInputs, named_as: str | None, rules: Guardrails,
              floor: float) -> str:
    by = f" by more than min_savings_usd_per_day ${floor:.2f}" if floor > 0 else ""
    serving = inputs.prices.get(ev.current_model, ev.current.provider)
    if serving is None:
        return (f"no candidates: {ev.current_model} is not in the price map, so no saving can be priced against it; "
                f"add it to the price map (prices_path)")
    if named_as:
        names = ", ".join(getattr(rules, named_as)) or "none"
        return (f"no candidates: none of {named_as} ({names}) is priced and cheaper than {ev.current_model}{by} "
                f"on this task's token mix")
    return (f"no candidates: no model seen and no {serving.mode or 'priced'} model of provider "
            f"{provider_family(serving.provider)} in the price map is cheaper than {ev.current_model}{by} on this "
            f"task's token mix; set exploration_candidates")
