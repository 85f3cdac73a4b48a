"""`Emitter.emit(event)`: the seam for facts that live in memory, outside any transaction (a breaker opening
on this replica, a guardrail blocking a call). `emit` never blocks; a background task writes the events to the
outbox in batches.

Across replicas: an event with a `dedup_key` is written once per `dedup_s` by the replicas that share Redis
(the first to `SET NX` the key writes it). A breaker opened by failures seen on every replica is one
`breaker.opened` event; without Redis each replica is on its own and reports its own breakers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.events import outbox
from oneflow_ai.events.event import Event
from oneflow_ai.store.redis_errors import redis_error

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("oneflow.events")
DEDUP_PREFIX = "oneflow:events:once:"
MAX_QUEUED = 10_000


class Emitter:
    def __init__(
        self, engine: AsyncEngine, redis: Redis | None, *, dedup_s: float = 10.0, prefix: str = DEDUP_PREFIX
    ) -> None:
        self._engine = engine
        self._redis = redis
        self._dedup_s = dedup_s
        self._prefix = prefix
        self._queue: asyncio.Queue[Event] = asyncio.Queue(MAX_QUEUED)
        self._task: asyncio.Task[None] | None = None
        self._pending: list[Event] = []
        """The batch being written (written again at shutdown if the cancellation cut it off)."""
        self.written = 0

    def emit(self, event: Event) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            log.warning("event queue full: %s dropped", event.type)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="oneflow-events")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        rest = self._pending + [self._queue.get_nowait() for _ in range(self._queue.qsize())]
        try:  # a batch cut off by the cancellation is written again (its id makes a second write a no-op)
            await self._flush(rest)
        except Exception:
            log.exception("could not write %d events to the outbox at shutdown", len(rest))

    async def _run(self) -> None:
        while True:
            batch = self._pending = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._flush(batch)
                self._pending = []
            except Exception:
                log.exception("could not write %d events to the outbox", len(batch))
                await asyncio.sleep(1.0)

    async def _flush(self, batch: list[Event]) -> None:
        kept = [e for e in batch if await self._first(e)]
        if not kept:
            return
        async with self._engine.begin() as conn:
            for event in kept:
                await outbox.write(conn, event)
        self.written += len(kept)

    async def _first(self, event: Event) -> bool:
        """Is this replica the first to report `event` (by its dedup key, within `dedup_s`)?"""
        if event.dedup_key is None or self._redis is None:
            return True
        try:
            key = self._prefix + event.dedup_key
            if await self._redis.set(key, event.id, nx=True, px=max(1, int(self._dedup_s * 1000))):
                return True
            return bool(await self._redis.get(key) == event.id.encode())  # ours, from a write cut off
        except (redis_error(), OSError):
            return True  # Redis down: better twice than never
