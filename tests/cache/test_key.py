"""The canonical request key: pure, invariant to key order and JSON whitespace, sensitive to what changes answers."""

from __future__ import annotations

import random
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from oneflow_ai.cache.key import Address, last_user_text, request_key, rest_key

BODY: dict[str, Any] = {
    "model": "mini",
    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}],
    "temperature": 0,
    "tools": [{"type": "function", "function": {"name": "add", "parameters": {"type": "object", "properties": {}}}}],
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)


def shuffled(value: Any, rng: random.Random) -> Any:
    """The same JSON value with every object's keys in another order."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [shuffled(v, rng) for v in value]
    return value


@given(st.dictionaries(st.text(min_size=1, max_size=8), json_values, max_size=6), st.integers())
def test_key_order_never_changes_the_key(body: dict[str, Any], seed: int) -> None:
    other = shuffled(body, random.Random(seed))
    assert request_key(other, "m") == request_key(body, "m")
    # and the JSON's formatting does not either: the key is of the parsed value
    assert request_key(orjson.loads(orjson.dumps(other, option=orjson.OPT_INDENT_2)), "m") == request_key(body, "m")


def test_what_changes_the_answer_changes_the_key() -> None:
    key = request_key(BODY, "mini")
    assert len(key) == 64 and int(key, 16) >= 0  # sha256, hex
    changed = [
        {**BODY, "temperature": 0.5},
        {**BODY, "max_tokens": 5},
        {**BODY, "response_format": {"type": "json_object"}},
        {**BODY, "tool_choice": "none"},
        {**BODY, "tools": []},
        {**BODY, "messages": [*BODY["messages"][:1], {"role": "user", "content": "What is 2+3?"}]},
        {**BODY, "top_k": 3},  # a provider's own parameter counts too
    ]
    assert all(request_key(b, "mini") != key for b in changed)
    assert request_key(BODY, "other") != key
    assert request_key(BODY, "mini", "key:k1") != key  # scoped to a key


def test_what_does_not_change_the_answer_leaves_the_key() -> None:
    key = request_key(BODY, "mini")
    same = [
        {**BODY, "stream": True, "stream_options": {"include_usage": True}},
        {**BODY, "user": "u1", "metadata": {"a": "b"}, "cache": {"ttl_s": 5}},
        {**BODY, "temperature": 0.0},  # a whole float is its integer
        {**BODY, "seed": None},  # null is absent
        {**BODY, "model": "renamed"},  # the model is the argument (the group's name), not the body's
    ]
    assert all(request_key(b, "mini") == key for b in same)
    assert request_key({**BODY, "seed": 1e30}, "mini") != key  # a huge whole float stays a float (no overflow)


def test_rest_key_leaves_out_only_the_last_user_message() -> None:
    paraphrase = {**BODY, "messages": [*BODY["messages"][:1], {"role": "user", "content": "2 plus 2?"}]}
    assert rest_key(paraphrase, "mini") == rest_key(BODY, "mini")
    other_system = {**paraphrase, "messages": [{"role": "system", "content": "Be long."}, paraphrase["messages"][1]]}
    assert rest_key(other_system, "mini") != rest_key(BODY, "mini")
    assert rest_key({**BODY, "temperature": 1}, "mini") != rest_key(BODY, "mini")
    assert rest_key(BODY, "mini") != request_key(BODY, "mini")
    assert rest_key({"messages": [{"role": "system", "content": "x"}]}, "mini") is None


def test_last_user_text_reads_strings_and_text_parts() -> None:
    assert last_user_text(BODY["messages"]) == "What is 2+2?"
    content = [{"type": "text", "text": "a"}, {"type": "image_url"}, {"type": "text", "text": "b"}]
    parts = [{"role": "user", "content": content}]
    assert last_user_text(parts) == "a\nb"
    assert last_user_text([{"role": "assistant", "content": "x"}]) is None


def test_an_address_names_its_tenant_first_and_parses_back() -> None:
    address = Address("t1", "abc", "f" * 64)
    assert str(address).startswith("t1:") and Address.parse(str(address)) == address
    assert Address.parse("nonsense") is None
