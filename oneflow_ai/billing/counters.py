"""Where budget spend and reservations are counted: in this process, or in Redis (`redis_counters.py`).

A reservation ("hold") is what a call is expected to cost, taken before the call and released when its
ledger record settles it; a hold that is never settled (a crashed request) lapses after `hold_s`.
`reserve` checks every slot and reserves in all of them, or in none: `LocalCounters` does it without an
`await` in between, so concurrent calls in one event loop cannot both take the last of a budget. A slot with
room for the call's `minimum` but not its whole estimate is held to the end (`periods.hold`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from oneflow_ai.billing.budget import Slot
from oneflow_ai.billing.periods import hold, period_end
from oneflow_ai.gateway.stages import Ready
from oneflow_ai.pricing.engine import exact_context

ZERO = Decimal(0)


class Counters(Protocol):
    async def seed(self, slot: Slot, spent: Decimal) -> None:
        """Start a slot's spend from what the ledger knows (kept if a larger count is already there)."""

    def reserve(
        self, request_id: str, slots: Sequence[Slot], estimate: Decimal, hold_s: float, minimum: Decimal | None = None
    ) -> Awaitable[Slot | None]:
        """Hold `estimate` in every slot, or in none: the slot that has no room, or None. A slot with room for
        `minimum` (default: the estimate) but not for the estimate is held to its end. Done at once where the
        counters are here; otherwise the round trip is queued now (to be shared) and the answer awaited."""

    async def settle(
        self, request_id: str, held: Sequence[Slot], charged: Sequence[Slot], cost: Decimal
    ) -> list[Decimal]:
        """Release this request's holds and add `cost` to the charged slots; their spend afterwards, in order."""

    def settle_behind(
        self,
        request_id: str,
        held: Sequence[Slot],
        charged: Sequence[Slot],
        cost: Decimal,
        then: Callable[[list[Decimal]], None],
    ) -> None:
        """`settle` without waiting: `then` gets the spends afterwards (now, or after the next round trip)."""

    async def drain(self) -> None:
        """Until every settlement made behind is written."""

    async def read(self, slot: Slot) -> tuple[Decimal, Decimal]:
        """(spent, reserved) for a slot."""

    async def sweep(self, now: datetime) -> None:
        """Drop lapsed holds and the slots of ended periods."""


@dataclass(slots=True)
class _Tally:
    slot: Slot
    spent: Decimal = ZERO
    reserved: Decimal = ZERO
    seeded: bool = False
    holds: dict[str, tuple[Decimal, float]] = field(default_factory=dict)


class LocalCounters:
    """Counts in this process: exact `Decimal`s. Correct for one process; use Redis for several."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tallies: dict[str, _Tally] = {}
        self._exact = exact_context()
        """Sums through this context's methods: exact (any rounding raises), without a context switch per call."""

    def _tally(self, slot: Slot) -> _Tally:
        tally = self._tallies.get(slot.key)
        if tally is None:
            tally = self._tallies[slot.key] = _Tally(slot)
        return tally

    async def seed(self, slot: Slot, spent: Decimal) -> None:
        tally = self._tally(slot)
        if not tally.seeded:
            tally.spent, tally.seeded = max(tally.spent, spent), True

    def reserve(
        self, request_id: str, slots: Sequence[Slot], estimate: Decimal, hold_s: float, minimum: Decimal | None = None
    ) -> Ready[Slot | None]:
        tallies = [self._tally(s) for s in slots]
        least = estimate if minimum is None else minimum
        amounts = []
        for slot, tally in zip(slots, tallies, strict=True):
            amount = hold(slot.budget.limit_usd, tally.spent, tally.reserved, estimate, least)
            if amount is None:
                return Ready(slot)
            amounts.append(amount)
        expires = self._clock() + hold_s
        add = self._exact.add
        for tally, amount in zip(tallies, amounts, strict=True):
            tally.reserved = add(tally.reserved, amount)
            tally.holds[request_id] = (amount, expires)
        return Ready(None)

    async def settle(
        self, request_id: str, held: Sequence[Slot], charged: Sequence[Slot], cost: Decimal
    ) -> list[Decimal]:
        return self._settle(request_id, held, charged, cost)

    def settle_behind(
        self,
        request_id: str,
        held: Sequence[Slot],
        charged: Sequence[Slot],
        cost: Decimal,
        then: Callable[[list[Decimal]], None],
    ) -> None:
        then(self._settle(request_id, held, charged, cost))

    async def drain(self) -> None:
        return None

    def _settle(self, request_id: str, held: Sequence[Slot], charged: Sequence[Slot], cost: Decimal) -> list[Decimal]:
        ctx = self._exact
        for slot in held:
            tally = self._tallies.get(slot.key)
            hold = tally.holds.pop(request_id, None) if tally is not None else None
            if tally is not None and hold is not None:
                tally.reserved = ctx.subtract(tally.reserved, hold[0])
        after = []
        for slot in charged:
            tally = self._tally(slot)
            tally.spent = ctx.add(tally.spent, cost)
            after.append(tally.spent)
        return after

    async def read(self, slot: Slot) -> tuple[Decimal, Decimal]:
        tally = self._tallies.get(slot.key)
        return (tally.spent, tally.reserved) if tally is not None else (ZERO, ZERO)

    async def sweep(self, now: datetime) -> None:
        mono = self._clock()
        for key, tally in list(self._tallies.items()):
            for rid, (amount, expires) in list(tally.holds.items()):
                if expires <= mono:
                    del tally.holds[rid]
                    tally.reserved -= amount
            end = period_end(tally.slot.budget.period, tally.slot.start)
            if end is not None and end <= now and not tally.holds:
                del self._tallies[key]
