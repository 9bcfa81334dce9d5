"""Run with a Python that has litellm and boto3 (not llmopt's venv): send requests through LiteLLM's real Router
with mock responses (successes, a mock InternalServerError, a mock timeout) and let LiteLLM's own `s3_v2` logger
write one object per request to an S3-compatible endpoint. Prints the response ids (`null` for a failure).

Usage: python litellm_s3_producer.py ENDPOINT_URL BUCKET PREFIX
"""

import asyncio
import json
import os
import sys

# read by litellm.constants at import: flush every second, one object per request
os.environ["DEFAULT_S3_FLUSH_INTERVAL_SECONDS"] = "1"
os.environ["DEFAULT_S3_BATCH_SIZE"] = "1"
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"         # no network: the bundled cost map

import boto3  # noqa: E402
import litellm  # noqa: E402
from litellm import Router  # noqa: E402

endpoint, bucket, prefix = sys.argv[1:4]
litellm.s3_callback_params = {"s3_bucket_name": bucket, "s3_endpoint_url": endpoint, "s3_path": prefix,
                              "s3_aws_access_key_id": "testing", "s3_aws_secret_access_key": "testing",
                              "s3_region_name": "us-east-1"}
litellm.callbacks = ["s3_v2"]

CACHED_USAGE = {"prompt_tokens": 1200, "completion_tokens": 40, "total_tokens": 1240,
                "prompt_tokens_details": {"cached_tokens": 1024}}
MODEL_LIST = [
    # llmopt's export aliases `<service>/<task_type>` (llmopt.publish.exports)
    {"model_name": "assist/summarize", "litellm_params": {"model": "openai/gpt-4o-mini", "mock_response": "A summary."}},
    {"model_name": "assist/extract", "litellm_params": {
        "model": "openai/gpt-4o", "mock_response": {
            "id": "chatcmpl-cached", "object": "chat.completion", "model": "gpt-4o", "created": 1767225600,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "{}"}}],
            "usage": CACHED_USAGE}}},
    {"model_name": "assist/classify", "litellm_params": {"model": "openai/gpt-4o-mini",
                                                         "mock_response": "litellm.InternalServerError"}},
    {"model_name": "assist/draft", "litellm_params": {"model": "openai/gpt-4o-mini", "mock_timeout": True,
                                                      "timeout": 0.2}},
    # an alias that is not llmopt's: service and task come from the request's metadata
    {"model_name": "openai/gpt-4o-mini", "litellm_params": {"model": "openai/gpt-4o-mini", "mock_response": "Hi."}},
]
CALLS = [
    ("assist/summarize", {"max_tokens": 64, "temperature": 0.2}),
    ("assist/summarize", {"max_tokens": 128}),
    ("assist/extract", {"temperature": 0.0}),
    ("assist/classify", {"max_tokens": 8}),
    ("assist/draft", {"max_tokens": 256}),
    ("openai/gpt-4o-mini", {"metadata": {"requester_metadata": {"service": "billing", "task": "reply"}}}),
]


async def main() -> list:
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    router = Router(model_list=MODEL_LIST, num_retries=0)
    ids = []
    for model, params in CALLS:
        try:
            response = await router.acompletion(model=model, messages=[{"role": "user", "content": "Hello there"}],
                                                **params)
            ids.append(response.id)
        except Exception:           # the mock errors: LiteLLM logs the failure
            ids.append(None)
        await asyncio.sleep(0.05)
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    for _ in range(100):        # the logger flushes every second: wait until every request has its object
        await asyncio.sleep(0.2)
        if client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("KeyCount", 0) >= len(CALLS):
            break
    return ids


print(json.dumps(asyncio.run(main())))
