"""Budget counters shared by every replica through Redis: check-and-reserve and settle are Lua scripts, atomic.

One hash per budget and period, `{prefix}:{<budget id>:<period start>}`, holds `spent`, `reserved` and one
`r:<request id>` field per hold; a sorted set next to it (`...:exp`) orders the holds by when they lapse, so a
replica that died holding reservations does not keep them for the rest of the period. Keys expire a day after
their period ends (`total`: a year after the last write; a lapsed key is seeded again from the ledger).

Amounts are integer nano-dollars, rounded up: Redis counts budgets to 1e-9 USD. The ledger stays exact.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from redis.asyncio import Redis

from oneflow_ai.billing.budget import Slot
from oneflow_ai.billing.periods import period_end

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

# KEYS: hash1, zset1, hash2, zset2, ...  ARGV: now_ms, expires_ms, request_id, estimate, then limit, ttl per slot.
_RESERVE = """
local now, expires, rid, estimate = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local n = #KEYS / 2
for i = 1, n do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
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
  local limit = tonumber(ARGV[3 + 2 * i])
  if spent + reserved >= limit or spent + reserved + estimate > limit then return i end
end
for i = 1, n do
  local h, z, ttl = KEYS[2 * i - 1], KEYS[2 * i], ARGV[4 + 2 * i]
  redis.call('HINCRBY', h, 'reserved', ARGV[4])
  redis.call('HSET', h, 'r:' .. rid, ARGV[4])
  redis.call('ZADD', z, expires, rid)
  redis.call('EXPIRE', h, ttl)
  redis.call('EXPIRE', z, ttl)
end
return 0
""".replace("PURGE_BATCH", str(PURGE_BATCH))

# KEYS: held hash1, zset1, ..., then charged hashes.  ARGV: request_id, held count, cost, then ttl per charged.
_SETTLE = """
local rid, held, cost = ARGV[1], tonumber(ARGV[2]), ARGV[3]
for i = 1, held do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local amount = redis.call('HGET', h, 'r:' .. rid)
  if amount then
    redis.call('HINCRBY', h, 'reserved', '-' .. amount)
    redis.call('HDEL', h, 'r:' .. rid)
    redis.call('ZREM', z, rid)
  end
end
local after = {}
for j = 2 * held + 1, #KEYS do
  after[#after + 1] = redis.call('HINCRBY', KEYS[j], 'spent', cost)
  redis.call('EXPIRE', KEYS[j], ARGV[3 + j - 2 * held])
end
return after
"""


def to_nano(amount: Decimal, rounding: str = ROUND_CEILING) -> int:
    return int((amount / NANO).to_integral_value(rounding=rounding))


def from_nano(value: Any) -> Decimal:
    return Decimal(int(value or 0)) * NANO


class RedisCounters:
    def __init__(
        self, redis: Redis, prefix: str = "oneflow:budget", wall: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._wall = wall
        self._seed = redis.register_script(_SEED)
        self._reserve = redis.register_script(_RESERVE)
        self._settle = redis.register_script(_SETTLE)

    def _hash(self, slot: Slot) -> str:
        return f"{self._prefix}:{{{slot.key}}}"

    def _ttl(self, slot: Slot) -> int:
        end = period_end(slot.budget.period, slot.start)
        if end is None:
            return TOTAL_TTL_S
        return max(60, int((end - self._wall()).total_seconds()) + GRACE_S)

    async def seed(self, slot: Slot, spent: Decimal) -> None:
        await self._seed(keys=[self._hash(slot)], args=[to_nano(spent), self._ttl(slot)])

    async def reserve(self, request_id: str, slots: Sequence[Slot], estimate: Decimal, hold_s: float) -> Slot | None:
        keys: list[str] = []
        args: list[int] = []
        now_ms = int(time.time() * 1000)
        for slot in slots:
            keys += [self._hash(slot), self._hash(slot) + ":exp"]
            args += [to_nano(slot.budget.limit_usd, ROUND_FLOOR), self._ttl(slot)]
        refused = int(
            await self._reserve(
                keys=keys, args=[now_ms, now_ms + int(hold_s * 1000), request_id, to_nano(estimate), *args]
            )
        )
        return slots[refused - 1] if refused else None

    async def settle(
        self, request_id: str, held: Sequence[Slot], charged: Sequence[Slot], cost: Decimal
    ) -> list[Decimal]:
        keys = [k for slot in held for k in (self._hash(slot), self._hash(slot) + ":exp")]
        keys += [self._hash(slot) for slot in charged]
        args: list[str | int] = [request_id, len(held), to_nano(cost), *(self._ttl(slot) for slot in charged)]
        return [from_nano(v) for v in await self._settle(keys=keys, args=args)]

    async def read(self, slot: Slot) -> tuple[Decimal, Decimal]:
        spent, reserved = await self._redis.hmget(self._hash(slot), ["spent", "reserved"])
        return from_nano(spent), from_nano(reserved)

    async def sweep(self, now: datetime) -> None:
        """Nothing to do: lapsed holds are purged by the reserve script, ended periods expire."""
