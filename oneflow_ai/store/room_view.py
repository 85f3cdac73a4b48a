"""This replica's view of counters kept in Redis (rate-limit buckets, budgets): what lets it admit a call without
waiting for a round trip, and when it must not.

What the view holds per counter is its *room*: what is left before the limit (a bucket's level; a budget's limit
less its spend and holds), as Redis last answered, less what this replica has charged since. Every answer from
Redis refreshes the rooms it names (`answered`), minus this replica's charges still on their way (`sent`), so
charges are never counted twice and never missed.

`take` admits a call on the view alone only when every one of its counters was answered for within `max_age_s`,
is large next to the call (the call costs at most `MAX_SHARE` of it) and keeps at least `HEADROOM` of its
capacity after the charge. The caller then writes the charge to Redis behind, without waiting for it. Any other
call (a small counter, one near its limit, or one this replica has not heard about lately) waits for Redis, which
decides. A replica also asks Redis once its charges that Redis has not answered for reach `UNCONFIRMED` of a
counter. So a busy key far from its limits never waits on Redis, a limit is still decided by Redis alone, and
replicas can together overshoot only if more than five of them each charge 5 % of a counter within one round trip
of theirs, or the others use more than `HEADROOM` of it within `max_age_s`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

HEADROOM = 0.25
"""The share of a counter's capacity a call must leave for this replica to admit it without asking Redis."""
UNCONFIRMED = 0.05
"""The most of a counter's capacity this replica may have charged on the view that Redis has not answered for
yet; beyond it the next call asks Redis (which also carries the charges waiting to be written)."""
MAX_SHARE = 0.001
"""The largest share of a counter's capacity one call may cost for this replica to admit it without asking."""
SWEEP_AT = 50_000


class Item(NamedTuple):
    key: str
    cost: float
    capacity: float
    refill_per_s: float
    """How fast the room grows back (a bucket's rate; 0 for a budget)."""


@dataclass(slots=True)
class _Room:
    room: float
    at: float
    """When `room` was true (it refills from then)."""
    answered: float
    """When Redis last answered for this counter."""


class RoomView:
    def __init__(self, max_age_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age_s = max_age_s
        self._clock = clock
        self._rooms: dict[str, _Room] = {}
        self._pending: dict[str, float] = {}
        """What this replica has sent to Redis per counter and Redis has not answered for yet."""

    def take(self, items: Sequence[Item]) -> list[float] | None:
        """Charge every item on the view and return the rooms after (the charges are then `sent`: the caller
        sends them to Redis), or None (nothing charged): ask Redis."""
        if self.max_age_s <= 0:
            return None
        now = self._clock()
        rooms, pending = self._rooms, self._pending
        after: list[float] = []
        for key, cost, capacity, refill in items:
            seen = rooms.get(key)
            if seen is None or now - seen.answered > self.max_age_s:
                return None
            room = seen.room
            if refill and now > seen.at:
                room = min(capacity, room + (now - seen.at) * refill)
            if cost > capacity * MAX_SHARE or room - cost < capacity * HEADROOM:
                return None
            if pending.get(key, 0.0) + cost > capacity * UNCONFIRMED:
                return None  # Redis has not confirmed enough of this replica's charges yet: ask it (and send them)
            after.append(room - cost)
        for (key, cost, _, _), room in zip(items, after, strict=True):
            seen = rooms[key]
            seen.room, seen.at = room, now
            pending[key] = pending.get(key, 0.0) + cost
        return after

    def charge(self, items: Sequence[Item]) -> None:
        """Charge (or refund) counters the view knows, at once, for a correction on its way to Redis without being
        `sent` (until an answer that includes it, an answer may leave it out of the view: corrections are small)."""
        for item in items:
            seen = self._rooms.get(item.key)
            if seen is not None:
                seen.room -= item.cost

    def sent(self, items: Sequence[Item]) -> None:
        pending = self._pending
        for item in items:
            pending[item.key] = pending.get(item.key, 0.0) + item.cost

    def answered(self, items: Sequence[Item], rooms: Sequence[float] | None) -> None:
        """Redis has answered for `items` (sent before): their rooms there now, with every call before them and
        none after; None when the round trip failed."""
        now = self._clock()
        pending = self._pending
        for i, item in enumerate(items):
            left = pending.get(item.key, 0.0) - item.cost
            if abs(left) < 1e-9:
                pending.pop(item.key, None)
                left = 0.0
            else:
                pending[item.key] = left
            if rooms is not None:
                self._rooms[item.key] = _Room(rooms[i] - left, now, now)
            else:
                self._rooms.pop(item.key, None)  # not known any more: the next call asks Redis
        if len(self._rooms) > SWEEP_AT:
            stale = now - self.max_age_s
            self._rooms = {k: r for k, r in self._rooms.items() if r.answered >= stale}
