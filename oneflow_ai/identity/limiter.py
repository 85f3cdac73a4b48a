"""Where the buckets live: in this process (`LocalLimiter`), or in Redis, shared by every replica (`RedisLimiter`).

Both run `buckets.take_all`'s arithmetic; the Redis one as a Lua script, so one round trip checks and charges
every bucket of a call atomically, on Redis's clock (replicas' clocks may differ; Redis has one). Concurrent calls
share round trips: one script run checks a whole batch of them, each call still all-or-nothing on its own.

With a view (`store.room_view`), a call whose buckets this replica heard about from Redis within the view's age
and that stay well above empty is admitted here without waiting; its charge is written to Redis behind, and the
answer refreshes the view. A call near a limit, or on buckets not seen lately, waits for Redis. Charges written
behind (those and the corrections after each call) are summed per bucket until their round trip is formed: one
charge per bucket per round trip, not one per request.

When Redis cannot be reached, `fail_mode` decides: `open` admits the call on this replica's own buckets (the
limits still hold per replica, not globally) and tries Redis again a second later; `closed` refuses the call
with 503 `rate_limiter_unavailable`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol

from oneflow_ai.errors import GatewayError
from oneflow_ai.gateway.stages import Ready
from oneflow_ai.identity.buckets import EPSILON, Bucket, Rate, Verdict, adjust, level_at, verdict
from oneflow_ai.store.redis_batches import BatchScript, Gathered, RedisBatches
from oneflow_ai.store.redis_errors import redis_error
from oneflow_ai.store.room_view import Item, RoomView

log = logging.getLogger("oneflow.ratelimit")

RETRY_REDIS_S = 1.0
SWEEP_AT = 100_000
"""The local store forgets full buckets (they hold no information) once it holds this many."""


class Charge(NamedTuple):
    key: str
    rate: Rate
    cost: int


class Limiter(Protocol):
    def take(self, charges: Sequence[Charge]) -> Awaitable[list[Verdict]]:
        """Check and charge at once where the buckets are here; otherwise queue the round trip now, so several
        callers' round trips can be shared, and return what to wait for."""

    def adjust(self, charges: Sequence[Charge]) -> None:
        """Charge more (or refund) after the fact; applied at once, or with the store's next round trip."""


class LocalLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._buckets: dict[str, Bucket] = {}
        self._clock = clock

    def take(self, charges: Sequence[Charge]) -> Ready[list[Verdict]]:
        """`buckets.take_all` on this process's buckets, written out for the hot path (tested against it)."""
        now = self._clock()
        buckets = self._buckets
        levels: list[float] = []
        allowed = True
        for key, rate, cost in charges:
            b = buckets.get(key)
            capacity = rate.capacity
            if b is None:
                level = float(capacity)
            else:
                elapsed = now - b.at
                level = b.level + elapsed * (capacity / rate.period_s) if elapsed > 0 else b.level
                if level > capacity:
                    level = float(capacity)
            if level + EPSILON < (cost if cost < capacity else capacity):
                allowed = False
            levels.append(level)
        if not allowed:
            return Ready([verdict(level, c.rate, c.cost, False) for level, c in zip(levels, charges, strict=True)])
        verdicts = []
        for level, (key, rate, cost) in zip(levels, charges, strict=True):
            left = level - cost
            buckets[key] = Bucket(left, now)
            verdicts.append(verdict(left, rate, cost, True))
        if len(buckets) > SWEEP_AT:
            self._sweep(now)
        return Ready(verdicts)

    def adjust(self, charges: Sequence[Charge]) -> None:
        now = self._clock()
        for c in charges:
            self._buckets[c.key] = adjust(self._buckets.get(c.key), c.rate, c.cost, now)

    def _sweep(self, now: float) -> None:
        full = [k for k, b in self._buckets.items() if level_at(b, rate := _rate_of(k), now) >= rate.capacity]
        for k in full[: len(full) // 2]:
            del self._buckets[k]


def _rate_of(key: str) -> Rate:
    """Keys end with `:<capacity>:<period>` so a sweep can tell a full bucket without more bookkeeping."""
    _, capacity, period = key.rsplit(":", 2)
    return Rate(int(capacity), float(period))


# Every call of a batch, in order, each atomic on its own. KEYS: each call's buckets, one call after the other.
# ARGS: per call: mode ('take' | 'adjust'), now ('' = Redis's clock), its bucket count, then capacity, period_s and
# cost per bucket. Returns per call: admitted (1/0), then the level per bucket (after the charge when admitted,
# before it when not).
LUA = """
local out = {}
local a, k = 1, 0
local clock
while a <= #ARGS do
  local mode, now, n = ARGS[a], tonumber(ARGS[a + 1]), tonumber(ARGS[a + 2])
  a = a + 3
  if not now then
    if not clock then
      local t = redis.call('TIME')
      clock = tonumber(t[1]) + tonumber(t[2]) / 1000000
    end
    now = clock
  end
  local levels, caps, rates, costs = {}, {}, {}, {}
  local ok = 1
  for i = 1, n do
    local cap, period, cost = tonumber(ARGS[a]), tonumber(ARGS[a + 1]), tonumber(ARGS[a + 2])
    a = a + 3
    local rate = cap / period
    local level = cap
    local state = redis.call('HMGET', KEYS[k + i], 'l', 't')
    if state[1] then
      local elapsed = now - tonumber(state[2])
      if elapsed < 0 then elapsed = 0 end
      level = math.min(cap, tonumber(state[1]) + elapsed * rate)
    end
    levels[i], caps[i], rates[i], costs[i] = level, cap, rate, cost
    if mode == 'take' and level + 1e-9 < math.min(cost, cap) then ok = 0 end
  end
  out[#out + 1] = ok
  for i = 1, n do
    local level = levels[i]
    if ok == 1 then
      level = level - costs[i]
      if level > caps[i] then level = caps[i] end
      redis.call('HSET', KEYS[k + i], 'l', string.format('%.17g', level), 't', string.format('%.17g', now))
      redis.call('PEXPIRE', KEYS[k + i], math.ceil((caps[i] - level) / rates[i] * 1000) + 1000)
    end
    out[#out + 1] = string.format('%.17g', level)
  end
  k = k + n
end
return out
"""

SCRIPT = BatchScript(LUA)


def _items(charges: Sequence[Charge]) -> list[Item]:
    return [Item(c.key, c.cost, c.rate.capacity, c.rate.capacity / c.rate.period_s) for c in charges]


def _call(mode: str, charges: Sequence[Charge], now: float | None) -> tuple[list[str], list[str]]:
    keys = [c.key for c in charges]
    args = [mode, "" if now is None else repr(now), str(len(charges))]
    for c in charges:
        args += [str(c.rate.capacity), repr(c.rate.period_s), str(c.cost)]
    return keys, args


@dataclass(slots=True)
class _Due:
    """A bucket's charges waiting to be written behind: their sum, and how much of it the view took (`sent`)."""

    rate: Rate
    cost: int = 0
    viewed: int = 0


class RedisLimiter:
    """Checks and charges in Redis. The calls of concurrent requests share round trips (`RedisBatches`); the
    adjustments are written behind, summed per bucket, with the next round trip. With a `view`, a call far from
    its limits on buckets Redis answered for lately is decided here and charged in Redis without waiting."""

    def __init__(
        self,
        batches: RedisBatches,
        fallback: LocalLimiter,
        fail_mode: Literal["open", "closed"],
        clock: Callable[[], float] = time.monotonic,
        view: RoomView | None = None,
    ) -> None:
        self._batches = batches
        self._fallback = fallback
        self._fail_mode = fail_mode
        self._clock = clock
        self._down_until = 0.0
        self._view = view
        self._due: dict[str, _Due] = {}
        """Charges to write behind, per bucket, until the next round trip is formed (`_gathered`)."""

    def take(self, charges: Sequence[Charge], now: float | None = None) -> Awaitable[list[Verdict]]:
        """`now` (seconds on Redis's clock, for tests) makes Redis decide, whatever the view holds."""
        if self._clock() < self._down_until:
            return self._degraded(charges)
        view = self._view
        if view is None:
            keys, args = _call("take", charges, now)
            return self._verdicts(self._batches.submit(SCRIPT, keys, args, 1 + len(charges)), charges)
        items = _items(charges)
        if now is None:
            levels = view.take(items)
            if levels is not None:  # decided here: the charge is written behind, with the next round trip
                self._owe(charges, viewed=True)
                return Ready([verdict(level, c.rate, c.cost, True) for level, c in zip(levels, charges, strict=True)])
        return self._verdicts(self._send(charges, items, now), charges)

    def _send(self, charges: Sequence[Charge], items: list[Item], now: float | None) -> asyncio.Future[Any]:
        """The take in the next round trip (sent now); its answer also goes to the view."""
        assert self._view is not None
        view = self._view
        keys, args = _call("take", charges, now)
        pending = self._batches.submit(SCRIPT, keys, args, 1 + len(charges))
        view.sent(items)

        def answered(done: asyncio.Future[Any]) -> None:
            failed = done.cancelled() or done.exception() is not None  # raised to the caller, who awaits it
            view.answered(items, None if failed else [float(level) for level in done.result()[1:]])

        pending.add_done_callback(answered)
        return pending

    def _charge_failed(self, charges: Sequence[Charge], error: BaseException) -> None:
        self._failed(error)
        self._fallback.adjust(charges)

    async def _verdicts(self, pending: Awaitable[list[Any]], charges: Sequence[Charge]) -> list[Verdict]:
        try:
            reply = await pending
        except (redis_error(), OSError, TimeoutError) as e:
            self._failed(e)
            return await self._degraded(charges)
        ok = bool(int(reply[0]))
        return [verdict(float(level), c.rate, c.cost, ok) for level, c in zip(reply[1:], charges, strict=True)]

    def adjust(self, charges: Sequence[Charge], now: float | None = None) -> None:
        if self._clock() < self._down_until:
            self._fallback.adjust(charges)
            return
        if now is not None:  # on a given clock (tests): a call of its own
            keys, args = _call("adjust", charges, now)
            failed = lambda e: self._charge_failed(charges, e)  # noqa: E731
            self._batches.post(SCRIPT, keys, args, 1 + len(charges), failed=failed)
            return
        if self._view is not None:
            self._view.charge(_items(charges))
        self._owe(charges, viewed=False)

    def _owe(self, charges: Sequence[Charge], *, viewed: bool) -> None:
        """Charge Redis without waiting (written behind, summed per bucket); `viewed`: charges the view took."""
        due = self._due
        if not due:
            self._batches.gather(self._gathered)
        for key, rate, cost in charges:
            d = due.get(key)
            if d is None:
                d = due[key] = _Due(rate)
            d.cost += cost
            if viewed:
                d.viewed += cost

    def _gathered(self) -> list[Gathered]:
        """The one call that writes every charge owed since the last round trip (summed per bucket)."""
        due, self._due = self._due, {}
        if not due:
            return []
        charges = [Charge(key, d.rate, d.cost) for key, d in due.items()]
        keys, args = _call("adjust", charges, None)
        view = self._view
        items = [Item(key, d.viewed, d.rate.capacity, d.rate.capacity / d.rate.period_s) for key, d in due.items()]

        def then(reply: list[Any]) -> None:
            if view is not None:
                view.answered(items, [float(level) for level in reply[1:]])

        def failed(error: Exception) -> None:  # kept on this replica's own buckets
            if view is not None:
                view.answered(items, None)
            self._charge_failed(charges, error)

        return [(SCRIPT, keys, args, 1 + len(charges), then, failed)]

    async def drain(self) -> None:
        """Until every adjustment queued so far is written (shutdown)."""
        await self._batches.drain()

    def _failed(self, error: BaseException) -> None:
        if self._clock() >= self._down_until:
            log.warning(
                "rate limiter: Redis unreachable (%s); failing %s for %.0fs",
                type(error).__name__,
                self._fail_mode,
                RETRY_REDIS_S,
            )
        self._down_until = self._clock() + RETRY_REDIS_S

    async def _degraded(self, charges: Sequence[Charge]) -> list[Verdict]:
        if self._fail_mode == "closed":
            raise GatewayError(
                "Rate limits cannot be checked right now; try again shortly.",
                status=503,
                code="rate_limiter_unavailable",
                headers={"retry-after": "1"},
            )
        return await self._fallback.take(charges)
