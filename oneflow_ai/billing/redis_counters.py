"""Budget counters shared by every replica through Redis: check-and-reserve and settle are Lua scripts, atomic.

One hash per budget and period, `{prefix}:{<budget id>:<period start>}`, holds `spent`, `reserved` and one
`r:<request id>` field per hold; a sorted set next to it (`...:exp`) orders the holds by when they lapse, so a
replica that died holding reservations does not keep them for the rest of the period. Keys expire a day after
their period ends (`total`: a year after the last write; a lapsed key is seeded again from the ledger).

Amounts are integer nano-dollars, rounded up: Redis counts budgets to 1e-9 USD. The ledger stays exact.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from redis.asyncio import Redis

from oneflow_ai.billing.budget import Slot
from oneflow_ai.billing.periods import period_end
from oneflow_ai.store.redis_batches import BatchScript, RedisBatches

log = logging.getLogger("oneflow.budgets")

NANO = Decimal("1e-9")
GRACE_S = 86_400
TOTAL_TTL_S = 366 * 86_400
PURGE_BATCH = 100

_SEED = """
local h = KEYS[1]
if redis.call('HEXISTS', h, 'seeded') == 1 then return 0 end
local current = tonumber(redis.call('HGET', h, 'spent') or '0')
if tonumber(ARGV[1]) > current then redis.call('HSET', h, 'spent', ARGV[1]) end
redis.call('HSET', h, 'seeded', '1')
redis.call('EXPIRE', h, ARGV[2])
return 1
"""

# A batch of reservations, each all-or-nothing on its own, in order. KEYS: per call, hash and zset per slot.
# ARGS: per call: now_ms, expires_ms, request_id, estimate, slot count, then limit and ttl per slot.
# Returns per call: 0, or the 1-based index of the slot that had no room.
_RESERVE = """
local out = {}
local a, k = 1, 0
while a <= #ARGS do
  local now, expires, rid, estimate, n = ARGS[a], ARGS[a + 1], ARGS[a + 2], tonumber(ARGS[a + 3]), tonumber(ARGS[a + 4])
  local base = a + 5
  local refused = 0
  for i = 1, n do
    local h, z = KEYS[k + 2 * i - 1], KEYS[k + 2 * i]
    local lapsed = redis.call('ZRANGEBYSCORE', z, '-inf', now, 'LIMIT', 0, PURGE_BATCH)
    for _, id in ipairs(lapsed) do
      local amount = redis.call('HGET', h, 'r:' .. id)
      if amount then
        redis.call('HINCRBY', h, 'reserved', '-' .. amount)
        redis.call('HDEL', h, 'r:' .. id)
      end
      redis.call('ZREM', z, id)
    end
    local spent = tonumber(redis.call('HGET', h, 'spent') or '0')
    local reserved = tonumber(redis.call('HGET', h, 'reserved') or '0')
    local limit = tonumber(ARGS[base + 2 * (i - 1)])
    if spent + reserved >= limit or spent + reserved + estimate > limit then
      refused = i
      break
    end
  end
  if refused == 0 then
    for i = 1, n do
      local h, z, ttl = KEYS[k + 2 * i - 1], KEYS[k + 2 * i], ARGS[base + 2 * (i - 1) + 1]
      redis.call('HINCRBY', h, 'reserved', ARGS[a + 3])
      redis.call('HSET', h, 'r:' .. rid, ARGS[a + 3])
      redis.call('ZADD', z, expires, rid)
      redis.call('EXPIRE', h, ttl)
      redis.call('EXPIRE', z, ttl)
    end
  end
  out[#out + 1] = refused
  a = base + 2 * n
  k = k + 2 * n
end
return out
""".replace("PURGE_BATCH", str(PURGE_BATCH))

# A batch of settlements, in order. KEYS: per call, hash and zset per held slot, then the charged hashes.
# ARGS: per call: request_id, held count, charged count, cost, then ttl per charged slot.
# Returns per call: the spend of each charged slot afterwards.
_SETTLE = """
local out = {}
local a, k = 1, 0
while a <= #ARGS do
  local rid, held, charged, cost = ARGS[a], tonumber(ARGS[a + 1]), tonumber(ARGS[a + 2]), ARGS[a + 3]
  for i = 1, held do
    local h, z = KEYS[k + 2 * i - 1], KEYS[k + 2 * i]
    local amount = redis.call('HGET', h, 'r:' .. rid)
    if amount then
      redis.call('HINCRBY', h, 'reserved', '-' .. amount)
      redis.call('HDEL', h, 'r:' .. rid)
      redis.call('ZREM', z, rid)
    end
  end
  k = k + 2 * held
  for j = 1, charged do
    out[#out + 1] = redis.call('HINCRBY', KEYS[k + j], 'spent', cost)
    redis.call('EXPIRE', KEYS[k + j], ARGS[a + 3 + j])
  end
  k = k + charged
  a = a + 4 + charged
end
return out
"""

RESERVE = BatchScript(_RESERVE)
SETTLE = BatchScript(_SETTLE)


def to_nano(amount: Decimal, rounding: str = ROUND_CEILING) -> int:
    return int(amount.scaleb(9).to_integral_value(rounding=rounding))


def from_nano(value: Any) -> Decimal:
    return Decimal(int(value or 0)) * NANO


class RedisCounters:
    """Reservations and settlements of concurrent calls share round trips with each other and with the rate
    limits' (`RedisBatches`); each call is still all-or-nothing. Settlements are written behind (`settle_behind`)."""

    def __init__(
        self,
        redis: Redis,
        batches: RedisBatches,
        prefix: str = "oneflow:budget",
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._redis = redis
        self._batches = batches
        self._prefix = prefix
        self._wall = wall
        self._seed = redis.register_script(_SEED)
        self._ttls: dict[str, tuple[float, int]] = {}

    def _hash(self, slot: Slot) -> str:
        return f"{self._prefix}:{{{slot.key}}}"

    def _ttl(self, slot: Slot) -> int:
        """Seconds the slot's keys live: to a day after its period ends (re-computed at most once a minute)."""
        now = time.monotonic()
        cached = self._ttls.get(slot.key)
        if cached is not None and now - cached[0] < 60:
            return cached[1]
        end = period_end(slot.budget.period, slot.start)
        ttl = TOTAL_TTL_S if end is None else max(60, int((end - self._wall()).total_seconds()) + GRACE_S)
        if len(self._ttls) > 10_000:
            self._ttls.clear()
        self._ttls[slot.key] = (now, ttl)
        return ttl

    async def seed(self, slot: Slot, spent: Decimal) -> None:
        await self._seed(keys=[self._hash(slot)], args=[to_nano(spent), self._ttl(slot)])

    def reserve(
        self, request_id: str, slots: Sequence[Slot], estimate: Decimal, hold_s: float
    ) -> Awaitable[Slot | None]:
        now_ms = int(time.time() * 1000)
        keys: list[str] = []
        args = [str(now_ms), str(now_ms + int(hold_s * 1000)), request_id, str(to_nano(estimate)), str(len(slots))]
        for slot in slots:
            h = self._hash(slot)
            keys += [h, h + ":exp"]
            args += [str(to_nano(slot.budget.limit_usd, ROUND_FLOOR)), str(self._ttl(slot))]
        return self._refused(self._batches.submit(RESERVE, keys, args, 1), slots)

    async def _refused(self, pending: Awaitable[list[Any]], slots: Sequence[Slot]) -> Slot | None:
        refused = int((await pending)[0])
        return slots[refused - 1] if refused else None

    def _settlement(
        self, request_id: str, held: Sequence[Slot], charged: Sequence[Slot], cost: Decimal
    ) -> tuple[list[str], list[str]]:
        keys = [k for slot in held for k in (self._hash(slot), self._hash(slot) + ":exp")]
        keys += [self._hash(slot) for slot in charged]
        args = [request_id, str(len(held)), str(len(charged)), str(to_nano(cost))]
        args += [str(self._ttl(slot)) for slot in charged]
        return keys, args

    async def settle(
        self, request_id: str, held: Sequence[Slot], charged: Sequence[Slot], cost: Decimal
    ) -> list[Decimal]:
        keys, args = self._settlement(request_id, held, charged, cost)
        return [from_nano(v) for v in await self._batches.call(SETTLE, keys, args, len(charged))]

    def settle_behind(
        self,
        request_id: str,
        held: Sequence[Slot],
        charged: Sequence[Slot],
        cost: Decimal,
        then: Callable[[list[Decimal]], None],
    ) -> None:
        keys, args = self._settlement(request_id, held, charged, cost)

        def failed(error: Exception) -> None:
            log.warning("budget settlement failed (%s); its holds lapse on their own", type(error).__name__)

        self._batches.post(SETTLE, keys, args, len(charged), lambda reply: then([from_nano(v) for v in reply]), failed)

    async def drain(self) -> None:
        """Until every settlement queued so far is written (shutdown)."""
        await self._batches.drain()

    async def read(self, slot: Slot) -> tuple[Decimal, Decimal]:
        spent, reserved = await self._redis.hmget(self._hash(slot), ["spent", "reserved"])
        return from_nano(spent), from_nano(reserved)

    async def sweep(self, now: datetime) -> None:
        """Nothing to do: lapsed holds are purged by the reserve script, ended periods expire."""
