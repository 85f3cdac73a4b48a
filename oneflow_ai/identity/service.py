"""`Identity`: everything identity and access builds once at start-up, owned by `create_app`'s lifespan.

It provides the gateway's `Authenticator` (`auth`), its rate limits stage (`rate_limits`), and the services behind
the admin API (`accounts`, `directory`, `keys`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.auth.principal import Limit, Principal, presented_key
from oneflow_ai.errors import InvalidRequest
from oneflow_ai.identity.accounts import Accounts
from oneflow_ai.identity.authenticator import KeyAuthenticator
from oneflow_ai.identity.cache import KeyCache
from oneflow_ai.identity.config import IdentitySettings
from oneflow_ai.identity.directory import Directory
from oneflow_ai.identity.invalidation import Invalidations
from oneflow_ai.identity.key_admin import KeyAdmin
from oneflow_ai.identity.last_used import LastUsed
from oneflow_ai.identity.limiter import Limiter, LocalLimiter, RedisLimiter
from oneflow_ai.identity.login_throttle import LoginThrottle
from oneflow_ai.identity.passwords import Lockout, Passwords
from oneflow_ai.identity.rate_limits import RateLimits
from oneflow_ai.identity.sessions import Sessions
from oneflow_ai.identity.signing import AccessTokens, Keyring, looks_like_jwt
from oneflow_ai.pricing import TokenCounter
from oneflow_ai.store.redis_batches import RedisBatches
from oneflow_ai.store.room_view import RoomView

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from oneflow_ai.store.resp import RespClient

REDIS_POOL_SIZE = 100
"""Connections of the rate-limit client; past this, a call waits (up to `REDIS_POOL_WAIT_S`) for a free one."""
REDIS_POOL_WAIT_S = 1.0
SHORT_TTL_S = 0.9
"""Without Redis pub/sub, a cached key is re-read this often, so any change reaches every replica within 1 s."""
LONG_TTL_S = 30.0


class Identity:
    def __init__(
        self,
        settings: IdentitySettings,
        engine: AsyncEngine,
        *,
        master_key: str,
        data_dir: Path,
        redis_url: str | None,
        shared_view_s: float = 0.0,
    ) -> None:
        self.settings = settings
        self.engine = engine
        keyring = (
            Keyring.from_secrets(settings.jwt_secret, settings.jwt_previous_secrets)
            if settings.jwt_secret
            else Keyring.load_or_create(data_dir)
        )
        self.tokens = AccessTokens(keyring, settings.access_ttl_s)
        self.redis = limits_client(redis_url) if redis_url else None
        cache = KeyCache(ttl_s=SHORT_TTL_S)
        self.invalidations = Invalidations(
            cache, self.redis, redis_url, short_ttl_s=SHORT_TTL_S, long_ttl_s=settings.key_cache_ttl_s or LONG_TTL_S
        )
        self.last_used = LastUsed(engine)
        self.auth = KeyAuthenticator(master_principal(settings), master_key, engine, cache, self.last_used)
        self.resp = resp_client(redis_url) if redis_url else None
        """The hot path's own Redis connection: the batches' and the balancer claims' (closed by `batches`)."""
        self.batches = RedisBatches(self.resp) if self.resp is not None else None
        """The hot path's Redis round trips, shared with the budget counters (`build_budgets`)."""
        local = LocalLimiter()
        view = RoomView(shared_view_s) if shared_view_s > 0 else None
        self.limiter: Limiter = (
            RedisLimiter(self.batches, local, settings.fail_mode, view=view) if self.batches else local
        )
        self.sessions = Sessions(engine, settings.refresh_ttl_s)
        self.passwords = Passwords()
        self.accounts = Accounts(
            engine,
            self.passwords,
            self.sessions,
            self.tokens,
            open_signup=settings.signup == "open",
            lockout=Lockout(lock_after=settings.login_lock_after),
            throttle=LoginThrottle(self.limiter, settings.login_ip_rpm),
        )
        self.directory = Directory(engine, self.invalidations, self.sessions)
        self.keys = KeyAdmin(engine, self.invalidations, settings)

    def rate_limits(self, tokens: TokenCounter) -> RateLimits:
        """The rate limits: an admission before the call, and an observer of its record (`gateway.compose`)."""
        return RateLimits(self.limiter, tokens, self.settings)

    async def start(self) -> None:
        self.last_used.start()
        self.invalidations.start()

    async def close(self) -> None:
        if self.batches is not None:
            await self.batches.close()  # after writing what was written behind
        await self.invalidations.close()
        await self.last_used.close()
        self.passwords.close()
        if self.redis is not None:
            await self.redis.aclose()

    async def admin_principal(self, authorization: str | None, x_api_key: str | None) -> Principal:
        """Who calls the admin API: a user's access token (JWT), or a key (the master key or a virtual key)."""
        token = presented_key(authorization, x_api_key)
        if token is not None and looks_like_jwt(token):
            return await self.accounts.principal(token)
        return await self.auth.authenticate(authorization, x_api_key)

    def rotate_signing_key(self) -> str:
        """A new JWT signing key (generated keyrings only); tokens signed by the old one stay valid."""
        ring = self.tokens.keyring
        if ring.path is None:
            raise InvalidRequest(
                "The signing key comes from ONEFLOW_JWT_SECRET: rotate it there "
                "(and keep the old one in ONEFLOW_JWT_PREVIOUS_SECRETS until its tokens expire)."
            )
        self.tokens.keyring = ring.rotate(time.time(), self.tokens.ttl_s)
        return self.tokens.keyring.keys[0].kid


def master_principal(settings: IdentitySettings) -> Principal:
    limits = [
        *([Limit("key:master", "requests", settings.master_rpm, 60)] if settings.master_rpm else []),
        *([Limit("key:master", "tokens", settings.master_tpm, 60)] if settings.master_tpm else []),
    ]
    return Principal(key_id="master", is_admin=True, limits=tuple(limits))


def limits_client(url: str) -> Redis:
    """Rate limits and invalidations get their own client: tight timeouts and no retries on the hot path. Its pool
    blocks when all its connections are busy: a burst must queue for Redis, not be taken for a Redis outage (the
    default pool raises MaxConnectionsError, which failed the limiter open under load). redis-py is imported here,
    with a Redis URL only (`store.redis_errors`)."""
    from redis.asyncio import BlockingConnectionPool, Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=REDIS_POOL_SIZE,
        timeout=REDIS_POOL_WAIT_S,
        socket_connect_timeout=0.5,
        socket_timeout=3.0,
        retry=Retry(NoBackoff(), 0),
    )
    return Redis.from_pool(pool)  # the client owns the pool: `aclose()` closes it too


def resp_client(url: str) -> RespClient:
    """The hot path's own RESP connection (`store.resp`, which imports hiredis and redis-py's exceptions)."""
    from oneflow_ai.store.resp import RespClient

    return RespClient(url)
