"""A minimal valid instance of a JSON schema, for the `demo` model's structured output and tool arguments.

`instance(schema)` follows what OpenAI's structured outputs accept: `type` (one or a list), `enum`, `const`,
`anyOf` / `oneOf` (the first), `allOf` (merged), `$ref` into `$defs` / `definitions`, `default`, objects (every
`required` property; those alone), arrays (`minItems` items), strings (`minLength`, and a value of each common
`format`), numbers (`minimum`, `exclusiveMinimum`, `maximum`, `multipleOf`). A `pattern` is not solved: a string
under a pattern is `""`, or its `minLength` of `x`.
"""

from __future__ import annotations

import math
from typing import Any

FORMATS = {
    "date": "2025-01-01",
    "date-time": "2025-01-01T00:00:00Z",
    "time": "00:00:00",
    "email": "demo@example.com",
    "uri": "https://example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
    "hostname": "example.com",
    "duration": "P1D",
}
MAX_DEPTH = 32
"""A recursive schema (`$ref` to itself through a required property) stops here."""


def instance(schema: Any, root: Any = None, depth: int = 0) -> Any:
    """A minimal value valid against `schema` (`root` resolves `$ref`s; the schema itself when not given)."""
    root = schema if root is None else root
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return None
    if "$ref" in schema:
        return instance(_resolve(root, schema["$ref"]), root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return instance(schema[key][0], root, depth + 1)
    if isinstance(schema.get("allOf"), list):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = instance(part, root, depth + 1)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else None
    return _typed(kind, schema, root, depth)


def _typed(kind: Any, schema: dict[str, Any], root: Any, depth: int) -> Any:
    if kind == "object":
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        required = schema.get("required")
        names = required if isinstance(required, list) else []
        return {name: instance(properties.get(name, {}), root, depth + 1) for name in names}
    if kind == "array":
        least = schema.get("minItems")
        count = least if isinstance(least, int) else 0
        return [instance(schema.get("items", {}), root, depth + 1) for _ in range(count)]
    if kind == "string":
        if schema.get("format") in FORMATS:
            return FORMATS[schema["format"]]
        length = schema.get("minLength")
        return "x" * length if isinstance(length, int) else ""
    if kind in ("number", "integer"):
        return _number(schema, integer=kind == "integer")
    if kind == "boolean":
        return False
    return None


def _number(schema: dict[str, Any], *, integer: bool) -> int | float:
    low = schema.get("minimum")
    exclusive = schema.get("exclusiveMinimum")
    value: float = 0
    if isinstance(low, int | float):
        value = low
    if isinstance(exclusive, int | float) and value <= exclusive:
        value = math.floor(exclusive) + 1 if integer else exclusive + 1
    step = schema.get("multipleOf")
    if isinstance(step, int | float) and step > 0:
        value = math.ceil(value / step) * step
    high = schema.get("maximum")
    if isinstance(high, int | float) and value > high:
        value = high
    return math.ceil(value) if integer else value


def _resolve(root: Any, ref: Any) -> Any:
    if not isinstance(ref, str) or not ref.startswith("#"):
        return {}
    node = root
    for key in ref.lstrip("#").strip("/").split("/"):
        if not key:
            continue
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}
