"""The canonical request key: which calls must get the same answer. Pure: a body in, a sha256 out.

Two calls share a key when they ask the same model the same thing: every body field counts except those that
cannot change the answer (`IGNORED`: streaming, who the end user is, metadata, the gateway's own steering).
Fields are compared as JSON values, so key order and the body's whitespace do not matter; a top-level number
that is whole is the same as its integer (`temperature: 0.0` is `0`), and a top-level `null` is the same as an
absent field. Message contents are compared exactly (a space inside a message may change an answer).

The key of everything but the last user message (`rest_key`) is what semantic matching compares exactly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

IGNORED = frozenset(
    {"model", "stream", "stream_options", "user", "metadata", "store", "service_tier", "cache", "fallbacks", "strategy"}
)
"""Body fields that do not change the answer: left out of the key."""

NO_TENANT = "~"
"""The scope of callers that belong to no tenant (the master key): `~` is never a tenant id."""


def canonical(body: Mapping[str, Any], model: str, narrow: str = "") -> bytes:
    """The request as one byte string: its answer-changing fields as JSON with sorted keys, the model and the
    scope's narrowing (`narrow`: a key or end user when the cache is scoped so, else empty)."""
    fields: dict[str, Any] = {}
    for name, value in body.items():
        if name in IGNORED or value is None:
            continue
        if type(value) is float and value.is_integer() and abs(value) < 2**53:
            value = int(value)
        fields[name] = value
    return orjson.dumps([model, narrow, fields], option=orjson.OPT_SORT_KEYS)


def request_key(body: Mapping[str, Any], model: str, narrow: str = "") -> str:
    return hashlib.sha256(canonical(body, model, narrow)).hexdigest()


def last_user_index(messages: Any) -> int | None:
    if not isinstance(messages, list):
        return None
    for i in range(len(messages) - 1, -1, -1):
        m = messages[i]
        if isinstance(m, dict) and m.get("role") == "user":
            return i
    return None


def last_user_text(messages: Any) -> str | None:
    """The last user message's text (its text parts joined), or None when it has none."""
    i = last_user_index(messages)
    if i is None:
        return None
    content = messages[i].get("content")
    if isinstance(content, str):
        return content or None
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        text = "\n".join(p for p in parts if isinstance(p, str))
        return text or None
    return None


def rest_key(body: Mapping[str, Any], model: str, narrow: str = "") -> str | None:
    """The key of the request with the last user message's content left out (None: there is no user message)."""
    messages = body.get("messages")
    i = last_user_index(messages)
    if i is None:
        return None
    assert isinstance(messages, list)
    rest = [*messages[:i], {**messages[i], "content": None}, *messages[i + 1 :]]
    return request_key({**body, "messages": rest}, model, "semantic\0" + narrow)


def model_tag(model: str) -> str:
    """A model name as it appears in a stored key: a short hash (a name may hold any character)."""
    return hashlib.sha256(model.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Address:
    """Where an entry lives: its tenant (always), its model and its key. `str(address)` is the entry's name in a
    store (`<tenant>:<model tag>:<sha256>`), which semantic matching hands back."""

    tenant: str
    model_tag: str
    digest: str

    def __str__(self) -> str:
        return f"{self.tenant}:{self.model_tag}:{self.digest}"

    @classmethod
    def parse(cls, name: str) -> Address | None:
        parts = name.split(":")
        if len(parts) != 3 or not all(parts):
            return None
        return cls(parts[0], parts[1], parts[2])
