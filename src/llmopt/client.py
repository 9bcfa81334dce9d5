"""What a gateway needs from llmopt at request time: deterministic variant assignment.

The algorithm, reproducible in any language:

1. key = UTF-8 bytes of  ``salt + ":" + experiment_id + ":" + unit_id``
2. h = SHA-256(key); x = the first 8 bytes of h as a big-endian unsigned integer
3. u = x / 2**64, a number in [0, 1)
4. walk the variants in their listed order, summing weight / (sum of all weights);
   the unit gets the first variant whose running sum exceeds u (the last one if rounding leaves none).

This module imports nothing but the standard library, so a Python gateway can vendor it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any


def bucket(salt: str, experiment_id: str, unit_id: str) -> float:
    """The unit's uniform position u in [0, 1) (steps 1–3)."""
    digest = hashlib.sha256(f"{salt}:{experiment_id}:{unit_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64


def assign(experiment: Mapping[str, Any] | Any, unit_id: str) -> str:
    """The variant name for `unit_id` in `experiment` (a published config's experiment entry or a definition).

    Raises:
        ValueError: the experiment has no variants or a non-positive weight.
    """
    get = experiment.get if isinstance(experiment, Mapping) else lambda k: getattr(experiment, k)
    variants = [v if isinstance(v, Mapping) else v.model_dump() for v in get("variants")]
    if not variants or any(float(v["weight"]) <= 0 for v in variants):
        raise ValueError(f"experiment {get('id')!r}: variants need positive weights")
    u = bucket(str(get("salt")), str(get("id")), str(unit_id))
    total = sum(float(v["weight"]) for v in variants)
    running = 0.0
    for v in variants:
        running += float(v["weight"]) / total
        if u < running:
            return v["name"]
    return variants[-1]["name"]
