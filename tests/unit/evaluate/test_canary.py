"""Canary ramps: a step holds, advances or withdraws on the step's own traffic; configs and exports carry it."""

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd

from llmopt.domain import Change
from llmopt.evaluate.canary import evaluate_ramp, first_step, ramp_changes
from llmopt.evaluate.registry import apply_change
from llmopt.publish.exports import litellm_router, portkey_configs
from llmopt.settings import Policy

NOW = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
RULES = Policy(canary_steps=[0.1, 0.5]).for_service("support")
ROUTE = {"model": "gpt-4o", "provider": "openai", "max_tokens": 256,
         "canary": {"model": "gpt-4o-mini", "provider": "openai", "weight": 0.1,
                    "started_at": (NOW - timedelta(hours=1)).isoformat()}}


def traffic(canary_quality: float, canary_errors: float = 0.0, n: int = 3000, seed: int = 1,
            at: datetime = NOW - timedelta(minutes=30)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    on_canary = rng.random(n) < 0.1
    quality = np.where(on_canary, canary_quality, 0.93) + rng.normal(0, 0.05, n)
    failed = rng.random(n) < np.where(on_canary, canary_errors, 0.004)
    return pd.DataFrame({"ts": at, "service": "support", "task_type": "classify",
                         "model": np.where(on_canary, "gpt-4o-mini", "gpt-4o"),
                         "status": np.where(failed, "error", "ok"),
                         "quality_score": np.where(failed | (rng.random(n) < 0.4), np.nan, quality)})


def test_a_good_canary_advances_to_the_next_step_then_takes_the_route():
    ev = evaluate_ramp("support", "classify", ROUTE, traffic(0.928), RULES, NOW)
    assert (ev.action, ev.next_weight) == ("advance", 0.5)
    [step] = ramp_changes([ev], Policy(), NOW, NOW)
    assert step.target == {"model": "gpt-4o-mini", "provider": "openai", "canary_weight": 0.5,
                           "canary_started_at": NOW.isoformat()}
    routes = {"classify": dict(ROUTE)}
    apply_change(routes, {}, step.strategy, "classify", step.target, step.origin)
    assert routes["classify"]["canary"]["weight"] == 0.5 and routes["classify"]["model"] == "gpt-4o"
    assert routes["classify"]["max_tokens"] == 256                 # the route's own settings stay while it ramps
    last = evaluate_ramp("support", "classify", routes["classify"],
                         traffic(0.928, at=NOW + timedelta(minutes=30)), RULES, NOW + timedelta(hours=1))
    [final] = ramp_changes([last], Policy(), NOW, NOW)
    apply_change(routes, {}, final.strategy, "classify", final.target, final.origin)
    assert routes["classify"] == {"model": "gpt-4o-mini", "provider": "openai"} and final.evidence["to_weight"] == 1.0


def test_a_worse_or_failing_canary_is_withdrawn_and_the_route_keeps_its_settings():
    for frame, cause in ((traffic(0.85), "quality"), (traffic(0.93, canary_errors=0.2), "error rate")):
        ev = evaluate_ramp("support", "classify", ROUTE, frame, RULES, NOW)
        assert ev.action == "withdraw" and cause in ev.reason
        [step] = ramp_changes([ev], Policy(), NOW, NOW)
        routes = {"classify": dict(ROUTE)}
        apply_change(routes, {}, step.strategy, "classify", step.target, step.origin)
        assert routes["classify"] == {"model": "gpt-4o", "provider": "openai", "max_tokens": 256}


def test_a_step_holds_until_its_hours_pass_and_its_traffic_arrives():
    young = {**ROUTE, "canary": {**ROUTE["canary"], "started_at": (NOW - timedelta(minutes=20)).isoformat()}}
    assert evaluate_ramp("support", "classify", young, traffic(0.6), RULES, NOW).action == "hold"
    assert evaluate_ramp("support", "classify", ROUTE, traffic(0.93, n=100), RULES, NOW).action == "hold"
    assert ramp_changes([evaluate_ramp("support", "classify", young, traffic(0.6), RULES, NOW)], Policy(), NOW, NOW) == []


def test_an_approved_switch_starts_as_its_first_step_unless_the_policy_goes_straight():
    switch = Change("support", "classify", "routing", "gpt-4o", "openai", "gpt-4o-mini", "openai", 10.0, {},
                    "approved", "policy:auto", NOW.isoformat())
    assert first_step(switch, RULES, NOW).target["canary_weight"] == 0.1
    assert first_step(switch, Policy(canary_steps=[]).for_service("support"), NOW) == switch
    routes = {"classify": {"model": "gpt-4o", "provider": "openai"}}
    apply_change(routes, {}, "routing", "classify", first_step(switch, RULES, NOW).target, switch.origin)
    assert routes["classify"]["canary"] == {"model": "gpt-4o-mini", "provider": "openai", "weight": 0.1,
                                            "started_at": NOW.isoformat()}
    assert replace(switch, to_settings=None).target == {"model": "gpt-4o-mini", "provider": "openai"}


def test_gateways_split_a_canary_by_weight():
    config = {"service": "support", "routes": {"classify": ROUTE}, "model_settings": {}, "experiments": []}
    deployments = litellm_router(config)["model_list"]
    assert [(d["litellm_params"]["model"], d["litellm_params"]["weight"]) for d in deployments] == [
        ("openai/gpt-4o", 0.9), ("openai/gpt-4o-mini", 0.1)]
    portkey = portkey_configs(config)["classify"]
    assert portkey["strategy"] == {"mode": "loadbalance"}
    assert [(t["override_params"]["model"], t["weight"]) for t in portkey["targets"]] == [("gpt-4o", 0.9),
                                                                                           ("gpt-4o-mini", 0.1)]
