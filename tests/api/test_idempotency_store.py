"""Issue 14 #8: the in-memory idempotency store keeps answers for their TTL, bounded by bytes, not by a count."""

from __future__ import annotations

import hashlib
import logging

import pytest

from oneflow_ai.api.idempotency_store import MemoryIdempotencyStore, StoredResponse, entry_size

TTL_S = 24 * 3600
HEADERS = [(b"content-type", b"application/json")]


def answer(i: int, body: bytes = b'{"ok":true}') -> tuple[str, StoredResponse]:
    key = hashlib.sha256(f"key-{i}".encode()).hexdigest()
    return key, StoredResponse(hashlib.sha256(f"fp-{i}".encode()).hexdigest(), 200, HEADERS, body)


async def keep(store: MemoryIdempotencyStore, i: int, body: bytes = b'{"ok":true}') -> None:
    key, response = answer(i, body)
    assert await store.claim(key, response.fingerprint) is None
    await store.complete(key, response)


async def kept(store: MemoryIdempotencyStore, i: int) -> bool:
    key, response = answer(i)
    found = await store.claim(key, response.fingerprint)
    if found is None:
        await store.release(key)
    return found is not None


async def test_many_small_answers_do_not_push_out_the_first() -> None:
    """10,000 newer answers forgot the first one (6 s of traffic); by bytes, 30,000 small ones fit easily."""
    store = MemoryIdempotencyStore(TTL_S)
    for i in range(30_000):
        await keep(store, i)
    assert await kept(store, 0) and await kept(store, 29_999)
    assert store.bytes == 30_000 * entry_size(*answer(0))


async def test_the_byte_bound_evicts_the_oldest_and_counts_them(caplog: pytest.LogCaptureFixture) -> None:
    size = entry_size(*answer(0))
    evictions: list[int] = []
    store = MemoryIdempotencyStore(TTL_S, max_bytes=5 * size, evicted=evictions.append)
    for i in range(5):
        await keep(store, i)
    assert evictions == [] and store.bytes == 5 * size
    with caplog.at_level(logging.WARNING, logger="oneflow.idempotency"):
        await keep(store, 5)
        await keep(store, 6)
    assert evictions == [1, 1] and store.bytes == 5 * size
    assert [await kept(store, i) for i in range(7)] == [False, False, True, True, True, True, True]
    warnings = [r for r in caplog.records if "idempotency store full" in r.getMessage()]
    assert len(warnings) == 1  # once a minute, not once per eviction


async def test_a_large_answer_pushes_out_as_many_as_it_needs() -> None:
    size = entry_size(*answer(0))
    evictions: list[int] = []
    store = MemoryIdempotencyStore(TTL_S, max_bytes=5 * size, evicted=evictions.append)
    for i in range(5):
        await keep(store, i)
    await keep(store, 5, body=b"x" * (2 * size))  # takes three entries' room
    assert evictions == [3] and [await kept(store, i) for i in range(5)] == [False, False, False, True, True]
    await keep(store, 6, body=b"x" * (6 * size))  # larger than the whole bound: not kept, nothing else lost
    assert evictions == [3, 1] and await kept(store, 4) and not await kept(store, 6)
    assert store.bytes <= store.max_bytes


async def test_answers_expire_after_the_ttl_and_free_their_bytes() -> None:
    now = [0.0]
    store = MemoryIdempotencyStore(60, clock=lambda: now[0])
    await keep(store, 0)
    now[0] = 30.0
    await keep(store, 1)
    now[0] = 60.0
    assert not await kept(store, 0) and await kept(store, 1)
    assert store.bytes == entry_size(*answer(1))
