"""Circuit breakers shared by every gateway process through Redis, off the hot path.

`SharedBreakers` is a `BreakerStore` whose reads and writes go to an in-process `BreakerBoard`, exactly as
without Redis: no request waits on Redis. In the background:

- each transition made here (see `oneflow_ai.routing.shared`) is written to the hash `<prefix>` (field: the
  deployment id) and published on the channel `<prefix>`;
- a subscriber adopts the transitions other processes publish, typically within a few milliseconds;
- every `resync_s` the hash is read again, which catches up a process that just started or lost its
  connection (and so missed messages).

If Redis is down, the gateway keeps working on its local breakers and reconnects in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping

from redis.asyncio import Redis
from redis.exceptions import RedisError

from oneflow_ai.routing.breaker import Breaker, BreakerBoard
from oneflow_ai.routing.shared import Transition, adopted, changed, decode, encode, published, same
from oneflow_ai.store.redis_replies import reply

log = logging.getLogger("oneflow.routing")

DEFAULT_PREFIX = "oneflow:breakers"
RECONNECT_S = 1.0


class SharedBreakers:
    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        resync_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        origin: str | None = None,
    ) -> None:
        self._redis = redis
        self._key = prefix
        self.resync_s = resync_s
        self._clock = clock
        self._wall = wall
        self.origin = origin or uuid.uuid4().hex
        self._board = BreakerBoard()
        self._newest: dict[str, float] = {}
        """Per deployment, the wall-clock stamp of the newest transition made or adopted here."""
        self._outbox: asyncio.Queue[Transition] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._down = False
        self.published = 0
        self.adopted = 0

    # BreakerStore: local only

    def get(self, deployment_id: str) -> Breaker:
        return self._board.get(deployment_id)

    def view(self) -> Mapping[str, Breaker]:
        return self._board.view()

    def put(self, deployment_id: str, breaker: Breaker) -> None:
        old = self._board.get(deployment_id)
        self._board.put(deployment_id, breaker)
        if changed(old, breaker):
            t = published(deployment_id, breaker, self.origin, self._clock(), self._wall())
            self._newest[deployment_id] = t.at
            self._outbox.put_nowait(t)

    def apply(self, t: Transition) -> bool:
        """Adopt another process's transition unless it is ours, older than what we know, or no news."""
        if t.origin == self.origin or t.at <= self._newest.get(t.deployment_id, -math.inf):
            return False
        self._newest[t.deployment_id] = t.at
        mono, wall = self._clock(), self._wall()
        if same(self._board.get(t.deployment_id), t, mono, wall):
            return False
        self._board.put(t.deployment_id, adopted(t, mono, wall))
        self.adopted += 1
        return True

    # Background synchronisation

    async def start(self) -> None:
        for loop in (self._publish, self._subscribe, self._resync):
            self._tasks.append(asyncio.create_task(self._forever(loop), name=f"breakers-{loop.__name__}"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _forever(self, loop: Callable[[], Awaitable[None]]) -> None:
        """Run one sync loop; on a Redis failure, say so once and retry after `RECONNECT_S`."""
        while True:
            try:
                await loop()
            except (RedisError, OSError) as e:
                if not self._down:
                    log.warning(
                        "shared breakers: Redis unavailable (%s); using local state until it is back", type(e).__name__
                    )
                self._down = True
                await asyncio.sleep(RECONNECT_S)

    async def _publish(self) -> None:
        while True:
            batch = [await self._outbox.get()]
            while not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for t in batch:
                        raw = encode(t)
                        pipe.hset(self._key, mapping={t.deployment_id: raw})
                        pipe.publish(self._key, raw)
                    await pipe.execute()
            except (RedisError, OSError):
                for t in batch:  # keep them for when Redis is back; the newest per deployment wins anyway
                    self._outbox.put_nowait(t)
                raise
            self.published += len(batch)
            self._up()

    async def _subscribe(self) -> None:
        async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.subscribe(self._key)
            self._up()
            async for message in pubsub.listen():
                if message.get("type") == "message" and (t := decode(message["data"])) is not None:
                    self.apply(t)

    async def _resync(self) -> None:
        while True:
            await self.resync()
            await asyncio.sleep(self.resync_s)

    async def resync(self) -> None:
        """Adopt whatever the shared hash holds that is newer than what this process knows."""
        table = await reply(self._redis.hgetall(self._key))
        for raw in table.values():
            if (t := decode(raw)) is not None:
                self.apply(t)
        self._up()

    def _up(self) -> None:
        if self._down:
            log.info("shared breakers: Redis is back")
            self._down = False
