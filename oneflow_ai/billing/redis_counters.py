"""Budget counters shared by every replica through Redis: check-and-reserve and settle are Lua scripts, atomic.

One hash per budget and period, `{prefix}:{<budget id>:<period start>}`, holds `spent`, `reserved` and one
`r:<request id>` field per hold; a sorted set next to it (`...:exp`) orders the holds by when they lapse, so a
replica that died holding reservations does not keep them for the rest of the period. Keys expire a day after
their period ends (`total`: a year after the last write; a lapsed key is seeded again from the ledger).

Amounts are integer nano-dollars, rounded up: Redis counts budgets to 1e-9 USD. The ledger stays exact. A hold of
0 (a call to a free model) is released without `HINCRBY -0`, which Redis refuses as no integer.

With a view (`store.room_view`), a hold far from every limit is taken on this replica's recent view of the
counts and written to Redis behind (forced: it was admitted already); each answer carries the counts after it.
Such a hold waits here until its round trip is formed: a call settled before that (most are: the round trip
goes every `behind_s`) never sends its hold, only its spend, summed with the others' per budget (`_SPEND`).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from redis.asyncio import Redis

from oneflow_ai.billing.budget import Budget, Slot
from oneflow_ai.billing.periods import period_end
from oneflow_ai.gateway.stages import Ready
from oneflow_ai.store.redis_batches import BatchScript, Gathered, RedisBatches
from oneflow_ai.store.redis_replies import reply
from oneflow_ai.store.room_view import Item, RoomView

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
# ARGS: per call: now_ms, expires_ms, request_id, estimate, minimum, force ('1': hold the estimate even without
# room: the call was admitted already), slot count, then limit and ttl per slot. A slot with room for the minimum
# but not for the estimate is held to its end (`periods.hold`).
# Returns per call: 0, or the 1-based index of the slot that had no room; then spent + reserved per slot afterwards.
_RESERVE = """
local out = {}
local a, k = 1, 0
while a <= #ARGS do
  local now, expires, rid, estimate = ARGS[a], ARGS[a + 1], ARGS[a + 2], tonumber(ARGS[a + 3])
  local minimum, force, n = tonumber(ARGS[a + 4]), ARGS[a + 5] == '1', tonumber(ARGS[a + 6])
  local base = a + 7
  local refused = 0
  local totals = {}
  local amounts = {}
  for i = 1, n do
    local h, z = KEYS[k + 2 * i - 1], KEYS[k + 2 * i]
    local lapsed = redis.call('ZRANGEBYSCORE', z, '-inf', now, 'LIMIT', 0, PURGE_BATCH)
    for _, id in ipairs(lapsed) do
      local amount = redis.call('HGET', h, 'r:' .. id)
      if amount and amount ~= '0' then
        redis.call('HINCRBY', h, 'reserved', '-' .. amount)
      end
      if amount then
        redis.call('HDEL', h, 'r:' .. id)
      end
      redis.call('ZREM', z, id)
    end
    local total = tonumber(redis.call('HGET', h, 'spent') or '0') + tonumber(redis.call('HGET', h, 'reserved') or '0')
    local limit = tonumber(ARGS[base + 2 * (i - 1)])
    local room = limit - total
    totals[i] = total
    amounts[i] = estimate
    if not force then
      if refused == 0 and (room <= 0 or room < minimum) then
        refused = i
      elseif estimate > room then
        amounts[i] = room
      end
    end
  end
  if refused == 0 then
    for i = 1, n do
      local h, z, ttl = KEYS[k + 2 * i - 1], KEYS[k + 2 * i], ARGS[base + 2 * (i - 1) + 1]
      local amount = string.format('%d', amounts[i])
      redis.call('HINCRBY', h, 'reserved', amount)
      redis.call('HSET', h, 'r:' .. rid, amount)
      redis.call('ZADD', z, expires, rid)
      redis.call('EXPIRE', h, ttl)
      redis.call('EXPIRE', z, ttl)
      totals[i] = totals[i] + amounts[i]
    end
  end
  out[#out + 1] = refused
  for i = 1, n do
    out[#out + 1] = string.format('%d', totals[i])
  end
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
    if amount and amount ~= '0' then
      redis.call('HINCRBY', h, 'reserved', '-' .. amount)
    end
    if amount then
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

# Spends owed since the last round trip, summed per budget. KEYS: the hashes. ARGS: per hash, ttl and amount.
# Returns per hash: spent, and spent + reserved, afterwards.
_SPEND = """
local out = {}
for i = 1, #KEYS do
  local spent = redis.call('HINCRBY', KEYS[i], 'spent', ARGS[2 * i])
  redis.call('EXPIRE', KEYS[i], ARGS[2 * i - 1])
  out[#out + 1] = spent
  out[#out + 1] = string.format('%d', spent + tonumber(redis.call('HGET', KEYS[i], 'reserved') or '0'))
end
return out
"""

RESERVE = BatchScript(_RESERVE)
SETTLE = BatchScript(_SETTLE)
SPEND = BatchScript(_SPEND)
READY_NONE: Ready[Slot | None] = Ready(None)


def to_nano(amount: Decimal, rounding: str = ROUND_CEILING) -> int:
    return int(amount.scaleb(9).to_integral_value(rounding=rounding))


def from_nano(value: Any) -> Decimal:
    return Decimal(int(value or 0)) * NANO


@dataclass(slots=True)
class _Hold:
    """A hold: the call, its slots, the view's items (key: the slot's hash; cost: the estimate; capacity: the
    limit, in nano-dollars), and when it was asked for (`time.time()`)."""

    request_id: str
    slots: Sequence[Slot]
    items: list[Item]
    hold_s: float
    at: float
    minimum: int
    """The least the call may hold where its estimate does not fit (nano-dollars)."""


@dataclass(slots=True)
class _Owed:
    """A budget's spends owed since the last round trip (nano-dollars), and what of its holds the view took."""

    slot: Slot
    limit: int
    spent: int = 0
    viewed: int = 0


@dataclass(slots=True)
class _Settled:
    """A call settled into `_Owed`: what it charged where, and who hears of the spends after it."""

    hashes: tuple[str, ...]
    nano: int
    then: Callable[[list[Decimal]], None] = field(repr=False)


class RedisCounters:
    """Reservations and settlements of concurrent calls share round trips with each other and with the rate
    limits' (`RedisBatches`); each call is still all-or-nothing. Settlements are written behind (`settle_behind`)."""

    def __init__(
        self,
        redis: Redis,
        batches: RedisBatches,
        prefix: str = "oneflow:budget",
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        view: RoomView | None = None,
    ) -> None:
        self._view = view
        self._redis = redis
        self._batches = batches
        self._prefix = prefix
        self._wall = wall
        self._seed = redis.register_script(_SEED)
        self._ttls: dict[str, tuple[float, int]] = {}
        self._limits: dict[str, tuple[Budget, int]] = {}
        self._holds: dict[str, _Hold] = {}
        """Holds admitted on the view and not sent yet, by request id (until the next round trip is formed)."""
        self._owed: dict[str, _Owed] = {}
        self._settled: list[_Settled] = []
        self._gathering = False

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

    def _limit(self, slot: Slot) -> int:
        """The slot's limit in nano-dollars (worked out once per budget)."""
        cached = self._limits.get(slot.key)
        if cached is not None and cached[0] is slot.budget:
            return cached[1]
        if len(self._limits) > 10_000:
            self._limits.clear()
        limit = to_nano(slot.budget.limit_usd, ROUND_FLOOR)
        self._limits[slot.key] = (slot.budget, limit)
        return limit

    async def seed(self, slot: Slot, spent: Decimal) -> None:
        await self._seed(keys=[self._hash(slot)], args=[to_nano(spent), self._ttl(slot)])

    def reserve(
        self, request_id: str, slots: Sequence[Slot], estimate: Decimal, hold_s: float, minimum: Decimal | None = None
    ) -> Awaitable[Slot | None]:
        """With a view: held here at once when every slot has plenty of room by a recent answer (the hold is
        written to Redis behind, with the next round trip); otherwise Redis decides."""
        nano = to_nano(estimate)
        limits = [self._limit(slot) for slot in slots]
        view = self._view
        items = [Item(self._hash(s), nano, limit, 0.0) for s, limit in zip(slots, limits, strict=True)]
        least = nano if minimum is None else to_nano(minimum)
        hold = _Hold(request_id, slots, items, hold_s, time.time(), least)
        if view is not None and view.take(items) is not None:
            # held here: the hold is written behind, with the next round trip (unless settled before)
            self._owing()
            self._holds[request_id] = hold
            return READY_NONE
        keys, args = self._reserve_call(hold, force=False)
        pending = self._batches.submit(RESERVE, keys, args, 1 + len(slots))
        if view is not None:
            view.sent(items)
            pending.add_done_callback(
                lambda done: self._answered(items, None if done.cancelled() or done.exception() else done.result())
            )
        return self._refused(pending, slots)

    def _reserve_call(self, hold: _Hold, *, force: bool) -> tuple[list[str], list[str]]:
        now_ms = int(hold.at * 1000)
        keys: list[str] = []
        args = [str(now_ms), str(now_ms + int(hold.hold_s * 1000)), hold.request_id, str(int(hold.items[0].cost))]
        args += [str(hold.minimum), "1" if force else "0", str(len(hold.slots))]
        for item, slot in zip(hold.items, hold.slots, strict=True):
            keys += [item.key, item.key + ":exp"]
            args += [str(int(item.capacity)), str(self._ttl(slot))]
        return keys, args

    def _answered(self, items: list[Item], reply: list[Any] | None) -> None:
        """Redis's counts after a hold (None: it failed) to the view, as rooms."""
        assert self._view is not None
        rooms = None if reply is None else [int(i.capacity) - int(t) for i, t in zip(items, reply[1:], strict=True)]
        self._view.answered(items, rooms)

    def _hold_failed(self, error: Exception, items: list[Item]) -> None:
        self._answered(items, None)
        log.warning("a budget hold could not be written to Redis (%s); the call goes on", type(error).__name__)

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
        hold = self._holds.pop(request_id, None)
        if hold is not None or not held:  # nothing of it in Redis yet: its spend alone, summed per budget
            self._owe(hold, charged, cost, then)
            return
        keys, args = self._settlement(request_id, held, charged, cost)

        def failed(error: Exception) -> None:
            log.warning("budget settlement failed (%s); its holds lapse on their own", type(error).__name__)

        self._batches.post(SETTLE, keys, args, len(charged), lambda reply: then([from_nano(v) for v in reply]), failed)

    def _owing(self) -> None:
        if not self._gathering:
            self._gathering = True
            self._batches.gather(self._gathered)

    def _owe(
        self, hold: _Hold | None, charged: Sequence[Slot], cost: Decimal, then: Callable[[list[Decimal]], None]
    ) -> None:
        self._owing()
        owed = self._owed
        if hold is not None:  # the view took the hold's estimate: the answer tells it that much came through
            for item, slot in zip(hold.items, hold.slots, strict=True):
                o = owed.get(item.key)
                if o is None:
                    o = owed[item.key] = _Owed(slot, int(item.capacity))
                o.viewed += int(item.cost)
        nano = to_nano(cost)
        hashes = tuple(self._hash(slot) for slot in charged)
        for h, slot in zip(hashes, charged, strict=True):
            o = owed.get(h)
            if o is None:
                o = owed[h] = _Owed(slot, self._limit(slot))
            o.spent += nano
        self._settled.append(_Settled(hashes, nano, then))

    def _gathered(self) -> list[Gathered]:
        """The holds not settled yet (each a reserve call), and one call with every spend owed, summed per budget."""
        self._gathering = False
        holds, self._holds = self._holds, {}
        owed, self._owed = self._owed, {}
        settled, self._settled = self._settled, []
        calls: list[Gathered] = []
        for hold in holds.values():  # admitted already: forced
            keys, args = self._reserve_call(hold, force=True)
            items = hold.items
            answered = functools.partial(self._answered, items)
            failed = functools.partial(self._hold_failed, items=items)
            calls.append((RESERVE, keys, args, len(items) + 1, answered, failed))
        if owed:
            calls.append(self._spend_call(owed, settled))
        return calls

    def _spend_call(self, owed: dict[str, _Owed], settled: list[_Settled]) -> Gathered:
        view = self._view
        hashes = list(owed)
        args = [str(v) for o in owed.values() for v in (self._ttl(o.slot), o.spent)]
        items = [Item(h, o.viewed, o.limit, 0.0) for h, o in owed.items()]

        def then(reply: list[Any]) -> None:
            if view is not None:
                view.answered(items, [o.limit - int(t) for o, t in zip(owed.values(), reply[1::2], strict=True)])
            spent = {h: int(v) - o.spent for h, o, v in zip(hashes, owed.values(), reply[::2], strict=True)}
            for s in settled:  # each call's spends after it, as if settled one by one in this order
                after = []
                for h in s.hashes:
                    spent[h] += s.nano
                    after.append(from_nano(spent[h]))
                s.then(after)

        def failed(error: Exception) -> None:
            if view is not None:
                view.answered(items, None)
            log.warning("budget spends could not be written to Redis (%s)", type(error).__name__)

        return SPEND, hashes, args, 2 * len(hashes), then, failed

    async def drain(self) -> None:
        """Until every settlement queued so far is written (shutdown)."""
        await self._batches.drain()

    async def read(self, slot: Slot) -> tuple[Decimal, Decimal]:
        spent, reserved = await reply(self._redis.hmget(self._hash(slot), ["spent", "reserved"]))
        return from_nano(spent), from_nano(reserved)

    async def sweep(self, now: datetime) -> None:
        """Nothing to do: lapsed holds are purged by the reserve script, ended periods expire."""
