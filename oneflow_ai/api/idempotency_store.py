"""Where idempotent responses are kept: in this process, or in Redis (shared by every replica).

`claim(key, fingerprint)` returns the stored response when the key was already served; otherwise it
waits while another request holds the key, and returns None once the caller holds it. The holder then
calls `complete` (keep the response for `ttl_s`) or `release` (keep nothing: a failure may be retried).
A key held for another fingerprint raises `IdempotencyConflict` at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import orjson

from oneflow_ai.errors import IdempotencyConflict

if TYPE_CHECKING:
    from redis.asyncio import Redis

CONFLICT = "This Idempotency-Key was already used with a different request."
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
ENTRY_OVERHEAD = 460
HEADER_OVERHEAD = 130
"""Bytes allowed per kept answer, and per header, for the Python objects around their bytes (dict slot, tuples,
the key, fingerprint and body objects). Measured with `tracemalloc`: 532 bytes for an answer with an empty body and
no headers (64-character key and fingerprint included), 1,558 with a 1,000-byte body, +152 a header; counted
568, 1,568 and +~150."""
WARN_EVERY_S = 60.0

log = logging.getLogger("oneflow.idempotency")


@dataclass(frozen=True, slots=True)
class StoredResponse:
    fingerprint: str
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def dumps(self) -> bytes:
        head = {
            "fp": self.fingerprint,
            "status": self.status,
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in self.headers],
        }
        return orjson.dumps(head) + b"\n" + self.body

    @classmethod
    def loads(cls, raw: bytes | str) -> StoredResponse:
        head, _, body = (raw.encode("latin-1") if isinstance(raw, str) else raw).partition(b"\n")
        h = orjson.loads(head)
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in h["headers"]]
        return cls(h["fp"], h["status"], headers, body)


class IdempotencyStore(Protocol):
    kind: str

    async def claim(self, key: str, fingerprint: str) -> StoredResponse | None: ...

    async def complete(self, key: str, response: StoredResponse) -> None: ...

    async def release(self, key: str) -> None: ...


class MemoryIdempotencyStore:
    """One process's store. An answer is kept for `ttl_s`, within `max_bytes` (its body and headers plus a fixed
    allowance per entry for the objects around them): when a new answer would pass the bound, the oldest are
    forgotten before their time, each reported to `evicted` (a metric) and in a warning at most once a minute.
    An answer larger than the whole bound is not kept (also an eviction)."""

    kind = "memory"

    def __init__(
        self,
        ttl_s: float,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        evicted: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self.bytes = 0
        """What the kept answers take, by `size`."""
        self._evicted = evicted
        self._clock = clock
        self._warned_at: float | None = None
        self._done: OrderedDict[str, tuple[float, int, StoredResponse]] = OrderedDict()
        self._held: dict[str, tuple[str, asyncio.Event]] = {}

    async def claim(self, key: str, fingerprint: str) -> StoredResponse | None:
        while True:
            self._expire(self._clock())
            done = self._done.get(key)
            if done is not None:
                return done[2]
            held = self._held.get(key)
            if held is None:
                self._held[key] = (fingerprint, asyncio.Event())
                return None
            if held[0] != fingerprint:
                raise IdempotencyConflict(CONFLICT)
            await held[1].wait()

    async def complete(self, key: str, response: StoredResponse) -> None:
        self._keep(key, response)
        await self.release(key)

    async def release(self, key: str) -> None:
        held = self._held.pop(key, None)
        if held is not None:
            held[1].set()

    def _keep(self, key: str, response: StoredResponse) -> None:
        now = self._clock()
        size = entry_size(key, response)
        old = self._done.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        if size > self.max_bytes:
            self._evict(1, now)
            return
        evicted = 0
        while self._done and self.bytes + size > self.max_bytes:  # in expiry order: the oldest first
            _, (_, gone, _) = self._done.popitem(last=False)
            self.bytes -= gone
            evicted += 1
        self._done[key] = (now + self.ttl_s, size, response)
        self.bytes += size
        if evicted:
            self._evict(evicted, now)

    def _evict(self, count: int, now: float) -> None:
        if self._evicted is not None:
            self._evicted(count)
        if self._warned_at is None or now - self._warned_at >= WARN_EVERY_S:
            self._warned_at = now
            log.warning(
                "idempotency store full (ONEFLOW_IDEMPOTENCY_MAX_BYTES=%d): answers are forgotten before their "
                "TTL (see the idempotency_evictions metric); raise the bound or set REDIS_URL",
                self.max_bytes,
            )

    def _expire(self, now: float) -> None:
        while self._done:
            key, (expires, size, _) = next(iter(self._done.items()))
            if expires > now:
                return
            del self._done[key]
            self.bytes -= size


def entry_size(key: str, response: StoredResponse) -> int:
    """What an answer is counted as in `max_bytes`: its bytes, and a fixed allowance for the objects holding them."""
    headers = sum(len(k) + len(v) + HEADER_OVERHEAD for k, v in response.headers)
    return ENTRY_OVERHEAD + len(key) + len(response.fingerprint) + len(response.body) + headers


# KEYS: the key's response and its lock. ARGV: the caller's token, the lock's seconds. One round trip per try:
# {'done', response} when the key was served; {'held'} when the caller now holds it; {'busy', holder's token}.
_CLAIM = """
local done = redis.call('GET', KEYS[1])
if done then return {'done', done} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'EX', ARGV[2]) then return {'held'} end
return {'busy', redis.call('GET', KEYS[2]) or ''}
"""
# KEYS: the response, the lock. ARGV: the holder's token, then the response and its seconds (none: keep nothing).
_SETTLE = """
if ARGV[2] then redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
"""


class RedisIdempotencyStore:
    """Shared by every replica: a lock per key (`SET NX` with an expiry) and the response (`SET EX`). A claim is
    one round trip (a script), and so is keeping the response and releasing the lock: each borrows a connection
    of the shared pool once, so a burst of idempotent calls queues briefly instead of holding the pool."""

    kind = "redis"

    def __init__(
        self, redis: Redis, ttl_s: int, *, lock_s: int = 600, poll_s: float = 0.05, prefix: str = "oneflow:idempotency:"
    ) -> None:
        self.redis = redis
        self.ttl_s = ttl_s
        self.lock_s = lock_s
        self.poll_s = poll_s
        self.prefix = prefix
        self._tokens: dict[str, str] = {}
        self._claim = redis.register_script(_CLAIM)
        self._settle = redis.register_script(_SETTLE)

    async def claim(self, key: str, fingerprint: str) -> StoredResponse | None:
        keys = [self.prefix + "done:" + key, self.prefix + "lock:" + key]
        token = f"{fingerprint}:{os.urandom(8).hex()}"
        while True:
            reply = await self._claim(keys=keys, args=[token, self.lock_s])
            state = _text(reply[0])
            if state == "done":
                return StoredResponse.loads(reply[1])
            if state == "held":
                self._tokens[key] = token
                return None
            if not _text(reply[1]).startswith(fingerprint + ":"):
                raise IdempotencyConflict(CONFLICT)
            await asyncio.sleep(self.poll_s)

    async def complete(self, key: str, response: StoredResponse) -> None:
        await self._settled(key, response.dumps(), self.ttl_s)

    async def release(self, key: str) -> None:
        if key in self._tokens:
            await self._settled(key)

    async def _settled(self, key: str, *keep: bytes | int) -> None:
        token = self._tokens.pop(key, "")
        await self._settle(keys=[self.prefix + "done:" + key, self.prefix + "lock:" + key], args=[token, *keep])


def _text(value: bytes | str) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value
