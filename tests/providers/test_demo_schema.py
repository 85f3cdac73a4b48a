"""`demo_schema.instance`: a minimal value valid against each schema (checked by `schema_check`), for the structured
outputs and tool arguments of the `demo` model."""

from __future__ import annotations

from typing import Any

import pytest

from oneflow_ai.providers.demo_schema import instance
from tests.providers.schema_check import errors

CALENDAR_EVENT = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 3},
        "date": {"type": "string", "format": "date"},
        "participants": {"type": "array", "items": {"type": "string"}, "minItems": 2},
    },
    "required": ["name", "date", "participants"],
    "additionalProperties": False,
}
MATH_REASONING = {  # OpenAI's structured outputs guide, with a $defs reference
    "type": "object",
    "properties": {
        "steps": {"type": "array", "items": {"$ref": "#/$defs/step"}, "minItems": 1},
        "final_answer": {"type": "string"},
    },
    "$defs": {
        "step": {
            "type": "object",
            "properties": {"explanation": {"type": "string"}, "output": {"type": "string"}},
            "required": ["explanation", "output"],
            "additionalProperties": False,
        }
    },
    "required": ["steps", "final_answer"],
    "additionalProperties": False,
}
SCHEMAS: list[Any] = [
    CALENDAR_EVENT,
    MATH_REASONING,
    {
        "type": "object",
        "properties": {"unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["unit"],
    },
    {
        "type": "object",
        "properties": {"n": {"type": "integer", "exclusiveMinimum": 4, "multipleOf": 3}},
        "required": ["n"],
    },
    {"type": "object", "properties": {"x": {"type": "number", "minimum": 2.5, "maximum": 9}}, "required": ["x"]},
    {
        "type": "object",
        "properties": {"v": {"type": ["string", "null"]}, "b": {"type": "boolean"}},
        "required": ["v", "b"],
    },
    {
        "type": "object",
        "properties": {"u": {"anyOf": [{"type": "integer", "minimum": 7}, {"type": "null"}]}},
        "required": ["u"],
    },
    {"allOf": [{"type": "object", "properties": {"a": {"const": 1}}, "required": ["a"]}, {"required": []}]},
    {
        "type": "array",
        "items": {"type": "object", "properties": {"id": {"type": "string", "format": "uuid"}}, "required": ["id"]},
        "minItems": 3,
    },
    {"type": "string", "minLength": 5},
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_the_instance_is_valid(schema: Any) -> None:
    value = instance(schema)
    assert errors(value, schema) == []


def test_the_checker_itself_catches_invalid_values() -> None:
    assert errors({"name": "ab", "date": "x", "participants": ["a"]}, CALENDAR_EVENT)  # too short, one participant
    assert errors({"steps": [{"explanation": "x"}], "final_answer": "y"}, MATH_REASONING)  # a step misses output


def test_a_recursive_schema_ends() -> None:
    tree = {"type": "object", "properties": {"child": {"$ref": "#"}}, "required": ["child"]}
    value = instance(tree)
    depth = 0
    while isinstance(value, dict):
        value, depth = value["child"], depth + 1
    assert 0 < depth < 100
