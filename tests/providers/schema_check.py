"""A small JSON-schema validator for the tests (no `jsonschema` dependency): the keywords OpenAI's structured outputs
use. `errors(value, schema)` lists where `value` breaks `schema` (empty: valid)."""

from __future__ import annotations

import math
import re
from typing import Any

TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def errors(value: Any, schema: Any, root: Any = None, where: str = "$") -> list[str]:
    root = schema if root is None else root
    if not isinstance(schema, dict):
        return []
    if "$ref" in schema:
        node = root
        for key in schema["$ref"].lstrip("#/").split("/"):
            node = node[key]
        return errors(value, node, root, where)
    found: list[str] = []
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if not any(TYPES[k](value) for k in kinds):
            return [f"{where}: {value!r} is not of type {kinds}"]
    if "const" in schema and value != schema["const"]:
        found.append(f"{where}: not the const")
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} not in enum")
    for key in ("anyOf", "oneOf"):
        if key in schema and all(errors(value, s, root, where) for s in schema[key]):
            found.append(f"{where}: matches none of {key}")
    for sub in schema.get("allOf", ()):
        found += errors(value, sub, root, where)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                found.append(f"{where}: missing {name}")
        for name, item in value.items():
            if name in properties:
                found += errors(item, properties[name], root, f"{where}.{name}")
            elif schema.get("additionalProperties") is False:
                found.append(f"{where}: unexpected {name}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", math.inf):
            found.append(f"{where}: {len(value)} items")
        for i, item in enumerate(value):
            found += errors(item, schema.get("items", {}), root, f"{where}[{i}]")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            found.append(f"{where}: shorter than minLength")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            found.append(f"{where}: does not match the pattern")
    if TYPES["number"](value):
        if value < schema.get("minimum", -math.inf) or value > schema.get("maximum", math.inf):
            found.append(f"{where}: {value} out of range")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            found.append(f"{where}: {value} not above exclusiveMinimum")
        step = schema.get("multipleOf")
        if step and not math.isclose(value / step, round(value / step)):
            found.append(f"{where}: {value} not a multiple of {step}")
    return found
