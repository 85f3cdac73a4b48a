"""What one cache entry holds, and its bytes in a store.

An entry is the chat completion as it was sent (OpenAI's JSON, its bytes), with the usage and the cost of the
call that produced it: a hit records those tokens and that cost as saved. Stored as
`<saved pico-USD>\\n<meta JSON>\\n<completion>`: the first line lets Redis add the saving to a tenant's stats in
the same round trip as the lookup (`redis_store`), the meta line holds the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

import orjson

from oneflow_ai.providers.base import Usage

PICO = Decimal("1e-12")


@dataclass(frozen=True, slots=True)
class Entry:
    body: bytes
    """The chat completion (`object: chat.completion`), as JSON bytes."""
    usage: Usage
    cost_usd: Decimal
    """What the call that filled the entry cost: what each hit saves."""
    model: str | None = None
    """The upstream model that answered."""


def to_pico(usd: Decimal) -> int:
    return int((usd / PICO).to_integral_value(ROUND_DOWN))


def from_pico(pico: int) -> Decimal:
    return (Decimal(pico) * PICO).normalize() if pico else Decimal(0)


def encode(entry: Entry) -> bytes:
    u = entry.usage
    meta = {
        "usage": [u.prompt_tokens, u.completion_tokens, u.cached_tokens, u.cache_write_tokens],
        "usd": str(entry.cost_usd),
        "model": entry.model,
    }
    return b"%d\n%s\n%s" % (to_pico(entry.cost_usd), orjson.dumps(meta), entry.body)


def decode(data: bytes) -> Entry | None:
    """The entry, or None when `data` is not one (written by another version, say): then it is a miss."""
    try:
        _, meta_line, body = data.split(b"\n", 2)
        meta = orjson.loads(meta_line)
        prompt, completion, cached, written = (int(n) for n in meta["usage"])
        return Entry(body, Usage(prompt, completion, cached, written), Decimal(meta["usd"]), meta.get("model"))
    except (ValueError, KeyError, TypeError, ArithmeticError):
        return None
