"""The in-process store: a least-recently-used map bounded by bytes, each entry with a time to live.

The clock is passed in (`time.monotonic` by default) so that expiry is tested without waiting. Lookups and
writes are synchronous (answered as `Ready` awaitables: no task, no await point). The bytes counted for an entry
are its data, its name and a fixed overhead for the bookkeeping; an entry larger than the whole bound is not kept.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from oneflow_ai.cache.entry import from_pico
from oneflow_ai.cache.key import Address
from oneflow_ai.cache.store import Stats
from oneflow_ai.gateway.stages import DONE, Ready

OVERHEAD_BYTES = 200
"""Counted per entry besides its data and name (the map's slot, the record below)."""


@dataclass(slots=True)
class _Slot:
    address: Address
    data: bytes
    size: int
    expires: float


@dataclass(slots=True)
class _Counts:
    hits: int = 0
    misses: int = 0
    saved_pico: int = 0
    entries: int = 0
    bytes: int = 0


class MemoryStore:
    kind = "memory"

    def __init__(self, max_bytes: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self.clock = clock
        self.bytes = 0
        self._slots: OrderedDict[str, _Slot] = OrderedDict()
        self._counts: dict[str, _Counts] = {}

    def get(self, address: Address, *, count_miss: bool) -> Awaitable[bytes | None]:
        name = str(address)
        slot = self._slots.get(name)
        counts = self._tenant(address.tenant)
        if slot is not None and slot.expires <= self.clock():
            self._drop(name)
            slot = None
        if slot is None:
            if count_miss:
                counts.misses += 1
            return Ready(None)
        self._slots.move_to_end(name)
        counts.hits += 1
        counts.saved_pico += int(slot.data[: slot.data.index(b"\n")])
        return Ready(slot.data)

    def miss(self, tenant: str) -> Awaitable[None]:
        self._tenant(tenant).misses += 1
        return DONE

    def put(self, address: Address, data: bytes, ttl_s: int) -> Awaitable[None]:
        name = str(address)
        size = len(data) + len(name) + OVERHEAD_BYTES
        if name in self._slots:
            self._drop(name)
        if size > self.max_bytes:
            return DONE
        while self.bytes + size > self.max_bytes:
            self._drop(next(iter(self._slots)))  # the least recently used
        self._slots[name] = _Slot(address, data, size, self.clock() + ttl_s)
        self.bytes += size
        counts = self._tenant(address.tenant)
        counts.entries += 1
        counts.bytes += size
        return DONE

    async def stats(self, tenant: str | None) -> dict[str, Stats]:
        self._expire()
        return {
            t: Stats(c.entries, c.bytes, c.hits, c.misses, from_pico(c.saved_pico))
            for t, c in self._counts.items()
            if tenant is None or t == tenant
        }

    async def clear(self, tenant: str | None, model_tag: str | None) -> int:
        doomed = [
            name
            for name, s in self._slots.items()
            if (tenant is None or s.address.tenant == tenant)
            and (model_tag is None or s.address.model_tag == model_tag)
        ]
        for name in doomed:
            self._drop(name)
        return len(doomed)

    def __len__(self) -> int:
        return len(self._slots)

    def _tenant(self, tenant: str) -> _Counts:
        counts = self._counts.get(tenant)
        if counts is None:
            counts = self._counts[tenant] = _Counts()
        return counts

    def _drop(self, name: str) -> None:
        slot = self._slots.pop(name)
        self.bytes -= slot.size
        counts = self._counts[slot.address.tenant]
        counts.entries -= 1
        counts.bytes -= slot.size

    def _expire(self) -> None:
        now = self.clock()
        for name in [n for n, s in self._slots.items() if s.expires <= now]:
            self._drop(name)


def _chosen(address: Address, tenant: str | None, model_tag: str | None) -> bool:
    return (tenant is None or address.tenant == tenant) and (model_tag is None or address.model_tag == model_tag)
