"""Telling every replica's key cache that keys changed.

The replica that made the change forgets the keys at once; with `REDIS_URL`, it also publishes their hashes on
a Redis channel every replica listens to, so a revocation, rotation or edit takes effect everywhere within
milliseconds. Cached entries live `long_ttl_s` while the subscription is up (a lost message is bounded by it)
and `short_ttl_s` (under 1 s) when there is no Redis or the subscription is down; after a reconnect the whole cache is
dropped, since messages may have been missed meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

import orjson

from oneflow_ai.identity.cache import KeyCache
from oneflow_ai.store.redis_errors import redis_error

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("oneflow.identity")

CHANNEL = "oneflow:identity:keys"
EVERYTHING = b"*"


class Invalidations:
    def __init__(
        self,
        cache: KeyCache,
        redis: Redis | None,
        redis_url: str | None,
        *,
        short_ttl_s: float = 1.0,
        long_ttl_s: float = 30.0,
    ) -> None:
        self._cache = cache
        self._redis = redis
        self._redis_url = redis_url
        self._short_ttl_s = short_ttl_s
        self._long_ttl_s = long_ttl_s
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()
        cache.ttl_s = short_ttl_s

    async def publish(self, key_hashes: list[str] | None) -> None:
        """Forget these keys here and on every replica (None: every key)."""
        self._cache.invalidate(key_hashes)
        if self._redis is None or key_hashes == []:
            return
        payload = EVERYTHING if key_hashes is None else orjson.dumps(key_hashes)
        try:
            await self._redis.publish(CHANNEL, payload)
        except (redis_error(), OSError, TimeoutError) as e:
            log.error(
                "could not publish a key invalidation (%s); other replicas see it within %.0fs",
                type(e).__name__,
                self._long_ttl_s,
            )

    def start(self) -> None:
        if self._redis_url is not None:
            self._task = asyncio.create_task(self._listen(self._redis_url), name="oneflow-key-invalidations")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen(self, url: str) -> None:
        delay = 0.1
        from redis.asyncio import Redis  # only with REDIS_URL

        while True:
            client = Redis.from_url(url, socket_connect_timeout=1.0, health_check_interval=5)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    self._cache.invalidate(None)
                    self._cache.ttl_s = self._long_ttl_s
                    self.subscribed.set()
                    delay = 0.1
                    while True:
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                        if message is not None:
                            self._apply(message.get("data"))
            except (redis_error(), OSError, TimeoutError) as e:
                if self.subscribed.is_set() or delay == 0.1:
                    log.warning(
                        "key invalidation channel down (%s); cached keys now live %.0fs",
                        type(e).__name__,
                        self._short_ttl_s,
                    )
            finally:
                self._cache.ttl_s = self._short_ttl_s
                if self.subscribed.is_set():  # entries cached under the long TTL may miss what comes next
                    self._cache.invalidate(None)
                    self.subscribed.clear()
                with contextlib.suppress(Exception):
                    await client.aclose()
            await asyncio.sleep(delay)
            delay = min(5.0, delay * 2)

    def _apply(self, data: object) -> None:
        if data == EVERYTHING:
            self._cache.invalidate(None)
            return
        try:
            hashes = orjson.loads(data) if isinstance(data, (bytes, str)) else None
        except orjson.JSONDecodeError:
            hashes = None
        if isinstance(hashes, list) and all(isinstance(h, str) for h in hashes):
            self._cache.invalidate(hashes)
        else:
            self._cache.invalidate(None)
