"""The Redis store: entries shared by every replica, expired by Redis itself (`SET ... EX`).

Keys, under `prefix` (`oneflow:cache:exact` by default), are namespaced by tenant so that a tenant's entries and
counts are found, and deleted, by pattern without touching any other tenant's:

- `<prefix>:<tenant>:e:<model tag>:<sha256>`: an entry (`entry.encode`);
- `<prefix>:<tenant>:s`: the tenant's counts (a hash: `hits`, `misses`, `saved_pico`).

A lookup and its count are one round trip (a script: GET, then HINCRBY of hits and the saving the entry's first
line holds, or of misses). Redis failing never fails a call: a lookup that fails is a miss, a write that fails
is dropped; each is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from oneflow_ai.cache.entry import from_pico
from oneflow_ai.cache.key import Address
from oneflow_ai.cache.store import Stats
from oneflow_ai.store.redis_replies import reply

log = logging.getLogger("oneflow.cache")

DEFAULT_PREFIX = "oneflow:cache:exact"
SCAN_COUNT = 500

LOOKUP = """
local data = redis.call('GET', KEYS[1])
if data then
  redis.call('HINCRBY', KEYS[2], 'hits', 1)
  local saved = tonumber(string.match(data, '^(%d+)\\n'))
  if saved and saved > 0 then redis.call('HINCRBY', KEYS[2], 'saved_pico', saved) end
  return data
end
if ARGV[1] == '1' then redis.call('HINCRBY', KEYS[2], 'misses', 1) end
return false
"""


class RedisStore:
    kind = "redis"

    def __init__(self, redis: Redis, prefix: str = DEFAULT_PREFIX) -> None:
        self.redis = redis
        self.prefix = prefix
        self._lookup = redis.register_script(LOOKUP)

    def entry_name(self, address: Address) -> str:
        return f"{self.prefix}:{address.tenant}:e:{address.model_tag}:{address.digest}"

    def stats_name(self, tenant: str) -> str:
        return f"{self.prefix}:{tenant}:s"

    def get(self, address: Address, *, count_miss: bool) -> Awaitable[bytes | None]:
        return self._get(address, count_miss)

    async def _get(self, address: Address, count_miss: bool) -> bytes | None:
        keys = [self.entry_name(address), self.stats_name(address.tenant)]
        try:
            found: Any = await self._lookup(keys=keys, args=["1" if count_miss else "0"])
        except RedisError as e:
            log.warning("cache lookup failed, served as a miss: %s", e)
            return None
        return found if isinstance(found, bytes) else None

    def miss(self, tenant: str) -> Awaitable[None]:
        return self._miss(tenant)

    async def _miss(self, tenant: str) -> None:
        try:
            await reply(self.redis.hincrby(self.stats_name(tenant), "misses", 1))
        except RedisError as e:
            log.warning("cache miss not counted: %s", e)

    def put(self, address: Address, data: bytes, ttl_s: int) -> Awaitable[None]:
        return self._put(address, data, ttl_s)

    async def _put(self, address: Address, data: bytes, ttl_s: int) -> None:
        try:
            await self.redis.set(self.entry_name(address), data, ex=ttl_s)
        except RedisError as e:
            log.warning("cache entry not stored: %s", e)

    async def stats(self, tenant: str | None) -> dict[str, Stats]:
        out: dict[str, Stats] = {}
        for name in await self._scan(f"{self.prefix}:{tenant or '*'}:s"):
            found: dict[Any, Any] = await reply(self.redis.hgetall(name.decode()))
            counts = {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in found.items()}
            out[self._tenant_of(name)] = Stats(
                hits=counts.get("hits", 0),
                misses=counts.get("misses", 0),
                saved_usd=from_pico(counts.get("saved_pico", 0)),
            )
        entries = await self._scan(f"{self.prefix}:{tenant or '*'}:e:*")
        for start in range(0, len(entries), SCAN_COUNT):
            batch = entries[start : start + SCAN_COUNT]
            async with self.redis.pipeline(transaction=False) as pipe:
                for name in batch:
                    pipe.strlen(name)
                sizes = await pipe.execute()
            for name, size in zip(batch, sizes, strict=True):
                if size:
                    stats = out.setdefault(self._tenant_of(name), Stats())
                    stats.entries += 1
                    stats.bytes += int(size)
        return out

    async def clear(self, tenant: str | None, model_tag: str | None) -> int:
        names = await self._scan(f"{self.prefix}:{tenant or '*'}:e:{model_tag or '*'}:*")
        removed = 0
        for start in range(0, len(names), SCAN_COUNT):
            removed += int(await self.redis.unlink(*names[start : start + SCAN_COUNT]))
        return removed

    async def _scan(self, pattern: str) -> list[bytes]:
        return [name async for name in self.redis.scan_iter(match=pattern, count=SCAN_COUNT)]

    def _tenant_of(self, name: bytes) -> str:
        return name.decode()[len(self.prefix) + 1 :].split(":", 1)[0]
