"""The strategy registry: every strategy declared once, the precedence rules and the one apply rule."""

from datetime import datetime, timezone

import pytest

from llmopt.domain import Change, Strategy
from llmopt.settings import BUILTIN_STRATEGIES
from llmopt.evaluate.registry import Scope, apply_change, combine, optional_strategy_names, strategies, strategy

NOW = datetime(2026, 11, 20, 12, tzinfo=timezone.utc).isoformat()


def change(strategy_name: str, task: str = "t", to: str = "cheap", settings: dict | None = None,
           service: str = "svc") -> Change:
    return Change(service, task, strategy_name, "big", "openai", to, "openai", 1.0, {}, "approved", "policy:auto",
                  NOW, to_settings=settings)


def test_every_strategy_is_registered_with_its_scope_and_monitoring():
    found = {name: (spec.scope, spec.monitored) for name, spec in strategies().items()}
    assert found == {
        "routing": (Scope.ROUTE, True), "experiment": (Scope.ROUTE, True), "cascade": (Scope.ROUTE, True),
        "rollback": (Scope.ROUTE, False), "reliability": (Scope.MODEL_SETTINGS, False),
        "max_tokens": (Scope.ROUTE_SETTINGS, False), "prompt_caching": (Scope.ROUTE_SETTINGS, False),
        "canary": (Scope.ROUTE, False), "exploration": (Scope.EXPERIMENTS, False)}
    assert optional_strategy_names() == ["cascade", "exploration", "max_tokens", "prompt_caching", "reliability",
                                         "routing"]
    assert set(optional_strategy_names()) == BUILTIN_STRATEGIES      # the settings' fast path names the same ones
    with pytest.raises(KeyError, match="not registered"):
        strategy("teleport")


def test_a_route_move_blocks_later_route_and_route_settings_changes_of_that_task_only():
    routing = [change("routing", "a")]
    cascade = [change("cascade", "a"), change("cascade", "b")]
    limits = [change("max_tokens", "a", "big", {"max_tokens": 256}), change("max_tokens", "c", "big", {"max_tokens": 64})]
    caching = [change("prompt_caching", "b", "big", {"prompt_caching": {"enabled": True, "ttl_s": 300}})]
    reliability = [change("reliability", "*", "big", {"timeout_s": 5.0, "retries": 1, "fallbacks": []})]
    out = combine([(strategy(s), c) for s, c in (("prompt_caching", caching), ("max_tokens", limits),
                                                  ("reliability", reliability), ("cascade", cascade),
                                                  ("routing", routing))])
    assert [(c.strategy, c.task_type) for c in out] == [
        ("routing", "a"),            # precedence 0 first
        ("cascade", "b"),            # a: routing moved it; b is free
        ("reliability", "*"),        # deployment settings never conflict
        ("max_tokens", "c"),         # a moved (its limit belonged to the old model)
        # prompt_caching on b: the cascade moved b's route in this run
    ]


def test_strategies_of_equal_precedence_do_not_block_each_other():
    out = combine([(strategy("routing"), [change("routing", "a")]),
                   (strategy("experiment"), [change("experiment", "a", "variant-b")])])
    assert [c.strategy for c in out] == [Strategy.ROUTING, Strategy.EXPERIMENT]


def test_apply_rule_per_scope():
    routes = {"a": {"model": "big", "provider": "openai", "max_tokens": 512}}
    settings: dict = {}
    apply_change(routes, settings, "max_tokens", "a", {"model": "big", "provider": "openai", "max_tokens": 256})
    assert routes["a"] == {"model": "big", "provider": "openai", "max_tokens": 256}
    apply_change(routes, settings, "routing", "a", {"model": "cheap", "provider": "openai"})
    assert routes["a"] == {"model": "cheap", "provider": "openai"}        # the old model's limit goes with it
    apply_change(routes, settings, "prompt_caching", "new", {"model": "big", "provider": "openai",
                                                             "prompt_caching": {"enabled": True, "ttl_s": 300}})
    assert routes["new"] == {"model": "big", "provider": "openai", "prompt_caching": {"enabled": True, "ttl_s": 300}}
    apply_change(routes, settings, "reliability", "*", {"model": "big", "provider": "openai", "timeout_s": 4.5,
                                                        "retries": 2, "fallbacks": []})
    assert settings == {"big": {"provider": "openai", "timeout_s": 4.5, "retries": 2, "fallbacks": []}}
    assert set(routes) == {"a", "new"}


def test_change_parses_its_strategy_and_state_once():
    c = change("routing")
    assert c.strategy is Strategy.ROUTING and c.state == "approved"
    with pytest.raises(ValueError):
        change("teleport")
