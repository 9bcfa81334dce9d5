"""A service config as gateways read it: its JSON contract, canonical form and content hash."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import jsonschema

from llmopt.publish.canonical import canonical_text

SCHEMA_VERSION = "1.0"
SCHEMA_FILE = "service_config.schema.json"


class ConfigSchemaError(ValueError):
    """A built config does not match data_contracts/service_config.schema.json."""


def json_safe(value: Any) -> Any:
    """Replace NaN and ±inf (not valid JSON) by None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):      # numpy scalars
        return json_safe(value.item())
    return value


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JCS) bytes of `value`, NaN and ±inf first replaced by null (see `llmopt.publish.canonical`)."""
    return canonical_text(json_safe(value)).encode("utf-8")


def content_sha256(config: dict) -> str:
    """SHA-256 of the RFC 8785 canonical JSON of the config without its own `content_sha256`."""
    return hashlib.sha256(canonical_json({k: v for k, v in config.items() if k != "content_sha256"})).hexdigest()


def load_schema(contracts_dir: Path) -> dict:
    return json.loads((Path(contracts_dir) / SCHEMA_FILE).read_text())


def check_config(config: dict, schema: dict) -> None:
    """Raise ConfigSchemaError naming the field if `config` breaks the schema or its own hash."""
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "<root>"
        raise ConfigSchemaError(f"config for {config.get('service')!r}: {where}: {first.message}")
    if config["content_sha256"] != content_sha256(config):
        raise ConfigSchemaError(f"config for {config['service']!r}: content_sha256 does not match content")


