"""A call the load balancer may send twice is begun at a provider once: claimed in the shared Redis first.

nginx in front of the replicas passes a POST on to another replica when the one it was written to fails before
answering (`proxy_next_upstream error timeout non_idempotent`), and names every try of one client request alike
(`proxy_set_header X-OneFlow-Balancer-Id $request_id`). Right before its first upstream attempt, a replica claims
that id (`SET oneflow:balancer:<id> 1 NX EX 600`, one round trip, only for a call carrying the header). A replica
that finds it claimed does not call the provider: another began this very call there and stopped (killed), or is
still on it (nginx gave up waiting), so the provider may have served and billed it; the client gets
`AttemptElsewhere` (502) instead of a second charge. A call whose replica died before its first attempt (during
admission, say) was never claimed, so the next replica serves it.

A client not behind nginx can send the header itself: it only gets a repeat of its own id refused (nginx replaces
whatever a client sent). Without Redis there is no cluster: the header is ignored. When Redis does not answer,
the call goes on unclaimed (fail open, warned at most every `WARN_EVERY_S`): a lost claim costs a double charge
only if a replica also dies meanwhile, while failing closed would stop every replica at once.

The claim goes through the hot path's own RESP connection (`store.resp`, shared with `RedisBatches`), not
redis-py's client: ~50 us of CPU a round trip instead of ~200. An error reply fails open as a silent Redis does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from oneflow_ai.store.redis_errors import redis_error

if TYPE_CHECKING:
    from oneflow_ai.store.resp import RespClient

log = logging.getLogger("oneflow")

HEADER = b"x-oneflow-balancer-id"
KEY_PREFIX = "oneflow:balancer:"
TTL_S = 600
"""How long a claim is kept: far beyond the time nginx may pass a call on (`proxy_next_upstream_timeout`)."""
MAX_ID = 128
"""A longer id is ignored (nginx's `$request_id` has 32 characters): it would only make a long key."""
WARN_EVERY_S = 10.0


def balancer_id(value: str | None) -> str | None:
    """The header's id, or None when it is absent, empty or too long."""
    return value if value and len(value) <= MAX_ID else None


class Claims:
    """Claims ids in the shared Redis (`claim`), warning when it cannot."""

    __slots__ = ("_clock", "_redis", "_warned_at")

    def __init__(self, redis: RespClient, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._redis = redis
        self._clock = clock
        self._warned_at = -WARN_EVERY_S

    async def claim(self, balancer_id: str) -> bool:
        """True when this replica is the first to begin the call (or Redis did not answer, or answered an error:
        fail open); False when another began it."""
        try:
            [reply] = await self._redis.execute([("SET", KEY_PREFIX + balancer_id, 1, "NX", "EX", TTL_S)])
        except (redis_error(), OSError, TimeoutError) as e:
            return self._unclaimed(type(e).__name__)
        if isinstance(reply, Exception):  # an error reply (a read-only replica, out of memory...)
            return self._unclaimed(str(reply))
        return reply is not None  # OK: claimed here; nil: claimed elsewhere

    def _unclaimed(self, why: str) -> bool:
        now = self._clock()
        if now - self._warned_at >= WARN_EVERY_S:
            self._warned_at = now
            log.warning("balancer claims: Redis did not take the claim (%s); calls go on unclaimed", why)
        return True
