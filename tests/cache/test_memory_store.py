"""The in-process store: bounded by bytes (least recently used out first), entries expire on an injected clock."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from oneflow_ai.cache.entry import Entry, decode, encode
from oneflow_ai.cache.key import Address
from oneflow_ai.cache.memory_store import OVERHEAD_BYTES, MemoryStore
from oneflow_ai.providers.base import Usage


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def entry(size: int, usd: str = "0.001") -> bytes:
    return encode(Entry(b"x" * size, Usage(3, 4), Decimal(usd), "gpt"))


def at(n: int, tenant: str = "t") -> Address:
    return Address(tenant, "m", f"{n:064x}")


def get(store: MemoryStore, address: Address) -> bytes | None:
    async def go() -> bytes | None:
        return await store.get(address, count_miss=True)

    return asyncio.run(go())


def test_the_least_recently_used_entry_goes_first_and_the_bound_holds() -> None:
    one = len(entry(1000)) + len(str(at(0))) + OVERHEAD_BYTES
    store = MemoryStore(max_bytes=3 * one)
    for n in range(3):
        store.put(at(n), entry(1000), 60)
    assert len(store) == 3 and store.bytes == 3 * one
    assert get(store, at(0)) is not None  # 0 is now the most recently used
    store.put(at(3), entry(1000), 60)
    assert store.bytes <= store.max_bytes
    assert get(store, at(1)) is None  # the least recently used went
    assert all(get(store, at(n)) is not None for n in (0, 2, 3))
    store.put(at(4), entry(5000), 60)  # larger than the whole bound: not kept, nothing evicted for it
    assert get(store, at(4)) is None and len(store) == 3


def test_entries_expire_on_the_clock() -> None:
    clock = Clock()
    store = MemoryStore(max_bytes=10**6, clock=clock)
    store.put(at(1), entry(10), 30)
    clock.now += 29.9
    assert get(store, at(1)) is not None
    clock.now += 0.2
    assert get(store, at(1)) is None
    assert len(store) == 0 and store.bytes == 0


def test_stats_are_per_tenant_with_the_money_saved() -> None:
    store = MemoryStore(max_bytes=10**6)
    store.put(at(1, "a"), entry(10, "0.000123456789"), 60)
    store.put(at(2, "b"), entry(10), 60)
    get(store, at(1, "a"))
    get(store, at(1, "a"))
    get(store, at(9, "a"))
    stats = asyncio.run(store.stats("a"))
    assert list(stats) == ["a"]
    a = stats["a"]
    assert (a.entries, a.hits, a.misses, a.saved_usd) == (1, 2, 1, Decimal("0.000246913578"))
    assert asyncio.run(store.clear("a", None)) == 1
    assert get(store, at(2, "b")) is not None  # another tenant's entry stays


def test_an_entry_keeps_its_bytes_usage_and_cost() -> None:
    data = encode(Entry(b'{"a":\n1}', Usage(5, 6, 2), Decimal("0.0125"), "gpt-4o"))
    assert decode(data) == Entry(b'{"a":\n1}', Usage(5, 6, 2), Decimal("0.0125"), "gpt-4o")
    assert decode(b"garbage") is None
