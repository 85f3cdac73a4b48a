"""The `CacheStore` protocol both stores speak (`memory_store`, `redis_store`), and the statistics they keep.

A store keeps entries under their `Address` (tenant, model, key) with a time to live, and per tenant counts of
hits, misses and the money hits saved. Counting happens in the lookup itself (`get`), so that on Redis a lookup
and its count are one round trip and every replica's counts add up in one place.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from oneflow_ai.cache.key import Address


@dataclass(slots=True)
class Stats:
    entries: int = 0
    bytes: int = 0
    hits: int = 0
    misses: int = 0
    saved_usd: Decimal = Decimal(0)

    def add(self, other: Stats) -> None:
        self.entries += other.entries
        self.bytes += other.bytes
        self.hits += other.hits
        self.misses += other.misses
        self.saved_usd += other.saved_usd

    def public(self) -> dict[str, object]:
        looked = self.hits + self.misses
        return {
            "entries": self.entries,
            "bytes": self.bytes,
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": round(self.hits / looked, 4) if looked else 0.0,
            "saved_usd": str(self.saved_usd),
        }


class CacheStore(Protocol):
    kind: str
    """`memory` or `redis`."""

    def get(self, address: Address, *, count_miss: bool) -> Awaitable[bytes | None]:
        """The entry's bytes (a hit, counted with its saving), or None (counted as a miss when `count_miss`)."""
        ...

    def miss(self, tenant: str) -> Awaitable[None]:
        """Count a miss (a lookup that went on past `get`, to semantic matching, and found nothing)."""
        ...

    def put(self, address: Address, data: bytes, ttl_s: int) -> Awaitable[None]: ...

    async def stats(self, tenant: str | None) -> dict[str, Stats]:
        """Per tenant (all of them when `tenant` is None)."""
        ...

    async def clear(self, tenant: str | None, model_tag: str | None) -> int:
        """Remove the entries of a tenant (None: every tenant), of one model (None: all); how many were removed."""
        ...
