"""The gateway's shared redis-py client (budget reads, idempotency, shared breakers, `/ready`): a bounded pool
that callers queue for.

redis-py's default pool raises `MaxConnectionsError` the moment all its connections (100) are busy, so a burst of
concurrent calls wider than the pool failed as if Redis were down: refusals became 500s, idempotent calls 503s.
A `BlockingConnectionPool` opens at most `max_connections` and makes a caller wait up to `wait_s` for one to be
free. Only when none frees up within that time (Redis is not answering, not merely busy) does the command fail,
with redis-py's `ConnectionError`, which each caller maps to its own documented error.

The hot path's round trips (rate limits, budget holds and spends) do not use this pool: they share one pipelined
connection (`store.redis_batches`).
"""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis


def shared_redis(url: str, *, max_connections: int, wait_s: float) -> Redis:
    """A client that owns its pool (`aclose()` closes both)."""
    if max_connections < 1:
        raise ValueError(f"ONEFLOW_REDIS_MAX_CONNECTIONS must be at least 1, not {max_connections}")
    if wait_s <= 0:
        raise ValueError(f"ONEFLOW_REDIS_POOL_TIMEOUT_S must be positive, not {wait_s:g}")
    return Redis.from_pool(BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=wait_s))
