"""The content hash is RFC 8785 (JCS): Python and Node compute the same bytes and the same SHA-256."""

import json
from datetime import datetime, timezone

import numpy as np
import pytest

from llmopt.publish.build import successor_config
from llmopt.publish.canonical import canonical_text, number_text
from llmopt.publish.service_config import content_sha256
from tests.gateway import node, node_verifies

NUMBERS = [2.0, 0.5, 1e-7, 1.5e-7, 1e-6, 1e20, 1e21, 1e23, 123.456, 0.1, 333333333.33333329, 4.35, 5e-324,
           1.7976931348623157e308, -0.0, -12.5, 7, 2 ** 53, 960.0, 0.000123]


def test_numbers_are_written_as_ecmascript_writes_them():
    assert [number_text(x) for x in NUMBERS] == json.loads(node("--numbers", json.dumps(NUMBERS)))
    assert number_text(np.float64(0.25)) == "0.25" and number_text(np.float64(1e-7)) == "1e-7"
    with pytest.raises(ValueError):
        number_text(float("inf"))


def test_rfc8785_worked_example():
    # keys by UTF-16 code units (U+1F600 is D83D DE00, so it sorts before U+FB33), no spaces, UTF-8 as is
    value = {"b": [1, 2.0, "→"], "a": None, "é": True, "\U0001F600": 1e-7, "\ufb33": 1e21, "c": "line\nbreak"}
    assert canonical_text(value) == ('{"a":null,"b":[1,2,"\u2192"],"c":"line\\nbreak","\u00e9":true,'
                                     '"\U0001F600":1e-7,"\ufb33":1e+21}')


def test_a_config_hash_verifies_in_node(tmp_path):
    now = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
    entry = {"strategy": "max_tokens", "task_type": "résumé → summary", "from": {"model": "m", "provider": "openai",
             "max_tokens": 1024}, "to": {"model": "m", "provider": "openai", "max_tokens": 960},
             "expected_savings_usd_per_day": 2.0, "evidence": {"completion_p99": 871.0, "share": 1e-7, "n": 12},
             "decision": {"state": "approved", "by": "policy:auto", "at": now.isoformat(), "id": 3}}
    config = successor_config("søk", None, {"résumé → summary": {"model": "m", "provider": "openai",
                                                                 "max_tokens": 960}}, [entry], 1, now, {})
    path = tmp_path / "v000001.json"
    path.write_bytes(config.to_json())
    [verdict] = node_verifies([path])
    assert verdict["ok"] and verdict["computed"] == config.content_sha256 == content_sha256(config.to_dict())
