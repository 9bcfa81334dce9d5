"""RFC 8785 JSON Canonicalization Scheme (JCS): the bytes a config's `content_sha256` is computed over.

Any language reproduces it: object keys sorted by their UTF-16 code units, no whitespace, strings as
ECMAScript's JSON.stringify writes them (UTF-8, only `"`, `\\` and control characters escaped), numbers
as ECMAScript's Number.prototype.toString writes them (`2.0` → `2`, `1e-7` → `1e-7`, `1e21` → `1e+21`).
In JavaScript: a recursive JSON.stringify with sorted keys (see tests/js/verify_config_hash.mjs).
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any


def number_text(x: float | int) -> str:
    """ECMAScript Number::toString of a finite number (RFC 8785 §3.2.2.3).

    Raises:
        ValueError: NaN or ±Infinity, which JSON cannot hold.
    """
    if isinstance(x, bool):
        raise TypeError("booleans are not numbers here")
    if isinstance(x, int):
        x = float(x) if abs(x) >= 2 ** 53 else x
        if isinstance(x, int):
            return str(x)
    if not math.isfinite(x):
        raise ValueError(f"JSON has no representation for {x!r}")
    if x == 0:
        return "0"
    if x < 0:
        return "-" + number_text(-x)
    # repr gives the shortest digits that round-trip, as ECMAScript does; only the layout differs
    sign, digits, exponent = Decimal(repr(float(x))).normalize().as_tuple()     # float(): numpy floats too
    s = "".join(map(str, digits))
    k, n = len(s), exponent + len(s)          # x = 0.s × 10^n
    if k <= n <= 21:
        return s + "0" * (n - k)
    if 0 < n <= 21:
        return s[:n] + "." + s[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + s
    e = n - 1
    mantissa = s if k == 1 else s[0] + "." + s[1:]
    return f"{mantissa}e{'+' if e > 0 else '-'}{abs(e)}"


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be")


def canonical_text(value: Any) -> str:
    """The JCS text of a JSON value (dicts, lists, str, int, float, bool, None)."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return number_text(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        items = sorted(((str(k), v) for k, v in value.items()), key=lambda kv: _utf16_key(kv[0]))
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{canonical_text(v)}" for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(canonical_text(v) for v in value) + "]"
    raise TypeError(f"not a JSON value: {type(value).__name__}")
