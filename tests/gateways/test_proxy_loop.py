"""The loop on LiteLLM's real proxy (1.106.0): it boots from the config llmopt published to an S3-compatible
bucket, serves `<service>/<task_type>` aliases through a fake upstream that plays a world with a known truth,
logs every request with its own `s3_v2` callback; llmopt reads those logs (`source: litellm`) with the feedback
the traffic generator wrote, decides and publishes; `llmopt configs wait` sees the new proxy config, the proxy
restarts on it. Windows are the real minutes the traffic took.

The world: `support/summarize` and `support/classify` start on gpt-4o; gpt-4o-mini is as good on summarize and
clearly worse on classify. Expected: summarize moves to gpt-4o-mini (explored, then a 50% canary, then the
switch), classify stays on gpt-4o; the shares the proxy's logs show match the weights it booted with: LiteLLM's
simple-shuffle draws each call's deployment independently (`random.choices` in `router_strategy/simple_shuffle.py`),
so a (cycle, task)'s count is binomial; every count is within 5 σ (a weight ignored or inverted is ≥ 10 σ off at
150 calls) and the counts of all cycles jointly pass a χ² test at α = 0.001 (one 3 σ check per cycle and task failed
about one run in 25 by chance: ~14 comparisons a run); every call the proxy made went to 127.0.0.1 (its
HTTP(S)_PROXY is a sink that records any other).
"""

import math
import os
import random
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import yaml
from scipy.stats import chi2
from sqlalchemy import create_engine, insert

from llmopt.cli import main as llmopt_cli
from llmopt.extract.feedback import FeedbackLog
from llmopt.extract.sources import open_request_source
from llmopt.flows.hourly_optimization import hourly_optimization
from llmopt.publish.build import successor_config
from llmopt.publish.proxy_config import PROXY_KEY
from llmopt.publish.publishing import latest_config, publish
from llmopt.publish.service_config import load_schema
from llmopt.resources import open_resources
from tests.gateways.fake_openai import FakeUpstream, ModelTruth
from tests.gateways.proxy_run import EgressSink, proxy_env, send_traffic, start_proxy, wait_for_objects

CONTRACTS = Path(__file__).parents[2] / "data_contracts"
TASKS = ("summarize", "classify")
# (task, model) → quality (mean feedback score), latency, tokens; gpt-4o fails one call in 50 on classify
WORLD = {("summarize", "gpt-4o"): ModelTruth(0.86, 40, 900, 120),
         ("summarize", "gpt-4o-mini"): ModelTruth(0.86, 20, 900, 110),
         ("classify", "gpt-4o"): ModelTruth(0.92, 40, 300, 8, fail_every=50),
         ("classify", "gpt-4o-mini"): ModelTruth(0.62, 20, 300, 8)}
NOISE = 0.03                # a score is the model's quality ± uniform noise of this half-width
# `make bench-gateway` runs this loop longer: more calls per cycle (tighter shares), more cycles allowed
CALLS_PER_TASK = int(os.environ.get("LLMOPT_LOOP_CALLS_PER_TASK", 150))
# the move took 6-7 cycles (explore 5-6 incl. classify explored and stopped in one, canary 1, switch 1); a passing
# run stops at the switch, so the headroom costs nothing
MAX_CYCLES = int(os.environ.get("LLMOPT_LOOP_MAX_CYCLES", 10))
BASE = """\
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
litellm_settings:
  callbacks: ["s3_v2"]
  s3_callback_params:
    s3_bucket_name: {logs}
    s3_endpoint_url: {endpoint}
    s3_aws_access_key_id: testing
    s3_aws_secret_access_key: testing
    s3_region_name: us-east-1
    s3_path: litellm
"""
POLICY = {"min_samples": 50, "lookback_hours": 1, "exploration_max_share": 0.5, "exploration_quality_loss_budget": 1,
          "exploration_candidates": ["gpt-4o-mini"], "canary_steps": [0.5], "canary_step_hours": 0.005}


def served_models(proxy_config: dict) -> dict[str, str]:
    """model_info.id → the model it serves (without its provider prefix), from the config the proxy booted."""
    return {d["model_info"]["id"]: d["litellm_params"]["model"].split("/", 1)[1] for d in proxy_config["model_list"]}


def weights(proxy_config: dict, alias: str) -> dict[str, float]:
    """model → the share LiteLLM's simple-shuffle gives it under `alias` (no weight: one deployment, all of it)."""
    group = [d["litellm_params"] for d in proxy_config["model_list"] if d["model_name"] == alias]
    total = sum(p.get("weight", 1.0) for p in group)
    return {p["model"].split("/", 1)[1]: p.get("weight", 1.0) / total for p in group}


def count_objects(s3, bucket: str) -> int:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="litellm/")
    return sum(page.get("KeyCount", 0) for page in pages)


def write_feedback(engine, answers, models: dict[str, str], rng: random.Random) -> int:
    """One score per answered call: the world's quality of the model that served it (the proxy's deployment id)."""
    now = datetime.now(timezone.utc)
    rows = [{"request_id": a.response_id, "name": "quality", "ts": now,
             "value": WORLD[(a.alias.split("/")[1], models[a.deployment_id])].quality + rng.uniform(-NOISE, NOISE)}
            for a in answers if a.status == 200]
    with engine.begin() as conn:
        conn.execute(insert(FeedbackLog.create_table(engine, "llm_feedback")), rows)
    return len(rows)


def test_llmopt_moves_the_right_task_on_the_real_proxy(litellm_proxy_python, s3_endpoint, prefect_harness,
                                                       write_settings, tmp_path, capsys):
    configs, logs = f"cfg-{uuid.uuid4().hex[:8]}", f"logs-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    for bucket in (configs, logs):
        s3.create_bucket(Bucket=bucket)
    base = tmp_path / "proxy_base.yaml"
    base.write_text(BASE.format(logs=logs, endpoint=s3_endpoint))
    path, settings = write_settings(
        config_store_uri=f"s3://{configs}/llmopt", s3_endpoint_url=s3_endpoint, exports=["litellm"],
        litellm_base_config=str(base), source={"kind": "litellm", "path": f"s3://{logs}/litellm"},
        feedback={"table": "llm_feedback"}, strategies=["routing", "exploration"], partition_minutes=5,
        rollups_dir=str(tmp_path / "rollups"), policy=POLICY)
    res = open_resources(settings)
    engine = create_engine(settings.database_url)
    # the service's first config, as a user starts: both tasks on the model they run today
    route = {"model": "gpt-4o", "provider": "openai"}
    publish(res.config_store, [successor_config("support", None, {t: route for t in TASKS}, [], 1,
                                                datetime.now(timezone.utc), {})],
            load_schema(CONTRACTS), ("litellm",), CONTRACTS, None, base)

    upstream, sink = FakeUpstream(WORLD).start(), EgressSink()
    env = proxy_env(s3_endpoint, configs, f"llmopt/{PROXY_KEY}", upstream.base_url) | sink.env()
    rng, history, proxy_version, answered, pearson = random.Random(7), [], 1, 0, []
    try:
        for cycle in range(MAX_CYCLES):
            booted = yaml.safe_load(res.config_store.read(PROXY_KEY))
            proxy = start_proxy(litellm_proxy_python, env, tmp_path / f"proxy-{cycle}.log")
            start = datetime.now(timezone.utc).replace(microsecond=0)
            try:
                calls = [(f"support/{t}", t) for t in TASKS for _ in range(CALLS_PER_TASK)]
                rng.shuffle(calls)
                answers = send_traffic(proxy.url, calls)
                logged = wait_for_objects(lambda: count_objects(s3, logs), len(calls) * (cycle + 1))
                assert logged == len(calls) * (cycle + 1), f"cycle {cycle}: {logged} log objects"
            finally:
                proxy.stop()
            end = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=1)
            answered += write_feedback(engine, answers, served_models(booted), rng)

            # the proxy's logs, as llmopt's litellm source reads them: one row per call, served shares vs weights
            rows = open_request_source(settings).read_partition(start, end, ["request_id", "task_type", "model",
                                                                             "status", "prompt_tokens"])
            assert len(rows) == len(calls), f"cycle {cycle}: {len(rows)} logged rows for {len(calls)} calls"
            assert set(rows["request_id"]) >= {a.response_id for a in answers if a.status == 200}
            shares = {}
            for task in TASKS:
                served = rows[rows["task_type"] == task]["model"].value_counts().to_dict()
                shared = weights(booted, f"support/{task}")
                assert set(served) <= set(shared), (cycle, task, served, shared)
                n = CALLS_PER_TASK
                for model, weight in shared.items():      # each share within 5 σ of its weight
                    k = served.get(model, 0)
                    assert abs(k - n * weight) <= 5 * math.sqrt(n * weight * (1 - weight)) + 1e-9, \
                        (cycle, task, model, k, weight)
                # Pearson's X² of this multinomial count, with len(shared) - 1 degrees of freedom
                pearson.append((sum((served.get(m, 0) - n * w) ** 2 / (n * w) for m, w in shared.items()),
                                len(shared) - 1))
                shares[task] = {m: (served.get(m, 0) / CALLS_PER_TASK, round(w, 3))
                                for m, w in weights(booted, f"support/{task}").items()}

            summary = hourly_optimization(start=start, end=end, config_file=str(path))
            history.append({"cycle": cycle, "window_s": (end - start).total_seconds(), "shares": shares,
                            "status": summary["status"], "changes": summary.get("changes")})
            with capsys.disabled():
                print(f"cycle {cycle}: {history[-1]}", flush=True)
            latest = latest_config(res.config_store, "support")
            if latest.routes["summarize"].model == "gpt-4o-mini" and latest.routes["summarize"].canary is None:
                break
            # the rollout hook: exits 0 with the new version when one is published (1 at the timeout)
            capsys.readouterr()
            code = llmopt_cli(["--config", str(path), "configs", "wait", "--export", "litellm",
                               "--after", str(proxy_version), "--timeout", "2", "--interval", "0.5"])
            out = capsys.readouterr().out
            if code == 0:
                proxy_version = int(out.split()[-1])
            history[-1]["proxy_version"] = proxy_version
    finally:
        upstream.stop()
        sink.stop()
    print(history)
    # independent counts: their X² add up, as do their degrees of freedom; the shares fit the weights jointly
    statistic, dof = sum(x for x, _ in pearson), sum(d for _, d in pearson)
    assert dof == 0 or statistic <= chi2.ppf(0.999, dof), (pearson, history)
    assert sink.seen == []              # the proxy asked for nothing beyond 127.0.0.1
    latest = latest_config(res.config_store, "support")
    assert (latest.routes["summarize"].model, latest.routes["classify"].model) == ("gpt-4o-mini", "gpt-4o"), history
    # every upstream call was a chat completion the traffic asked for: one per call, nothing else, no retries
    assert sum(upstream.calls.values()) == len(history) * len(TASKS) * CALLS_PER_TASK
    assert dict(upstream.paths) == {"/v1/chat/completions": sum(upstream.calls.values())}
    assert answered == sum(upstream.calls.values()) - sum(WORLD[k].fail_every and v // WORLD[k].fail_every
                                                          for k, v in upstream.calls.items())
