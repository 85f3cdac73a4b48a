"""The `/v1` authenticator: the master key, then virtual keys through the in-process cache.

The hot path with a warm cache is a SHA-256 and a dict lookup: no database. A miss loads the key (with its user's
role and limits and its tenant's limits) in one query, shared by concurrent requests presenting the same key.
Expiry, revocation and the end of a rotation's grace period are checked against the cached times on every
request, so they need no invalidation; changes made through the admin API invalidate the cache (`invalidation`).
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.auth.principal import Limit, Principal, presented_key
from oneflow_ai.errors import AuthenticationFailed
from oneflow_ai.identity import key_guardrails
from oneflow_ai.identity.cache import MISS, KeyCache, KeyEntry
from oneflow_ai.identity.credentials import KEY_SCHEME, secret_hash
from oneflow_ai.identity.last_used import LastUsed
from oneflow_ai.identity.roles import weaker
from oneflow_ai.identity.tables import api_keys, tenants, users

MAX_KEY_CHARS = 256
MINUTE, HOUR = 60, 3600


class KeyAuthenticator:
    def __init__(
        self,
        master: Principal,
        master_key: str,
        engine: AsyncEngine,
        cache: KeyCache,
        last_used: LastUsed,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._master = master
        self._master_key = master_key.encode()
        self._engine = engine
        self._cache = cache
        self._last_used = last_used
        self._clock = clock
        self._monotonic = monotonic
        self._loading: dict[str, asyncio.Future[KeyEntry | None]] = {}

    async def authenticate(self, authorization: str | None, x_api_key: str | None) -> Principal:
        key = presented_key(authorization, x_api_key)
        if key is None:
            raise AuthenticationFailed(
                "You didn't provide an API key. Send it as 'Authorization: Bearer <key>' or 'x-api-key: <key>'.",
                code="missing_api_key",
            )
        if hmac.compare_digest(key.encode(), self._master_key):
            return self._master
        if not key.startswith(KEY_SCHEME) or len(key) > MAX_KEY_CHARS:
            raise _incorrect(key)
        entry = await self.entry(secret_hash(key))
        if entry is None:
            raise _incorrect(key)
        now = self._clock()
        if entry.revoked_at is not None and entry.revoked_at <= now:
            raise AuthenticationFailed("This API key has been revoked.", code="invalid_api_key")
        if entry.expires_at is not None and entry.expires_at <= now:
            raise AuthenticationFailed("This API key has expired.", code="invalid_api_key")
        if entry.grace_until is not None and entry.grace_until <= now:
            raise AuthenticationFailed(
                "This API key was rotated and its grace period has ended.", code="invalid_api_key"
            )
        self._last_used.mark(entry.principal.key_id)
        return entry.principal

    async def entry(self, key_hash: str) -> KeyEntry | None:
        cached = self._cache.get(key_hash, self._monotonic())
        if cached is not MISS:
            return cached  # type: ignore[return-value]
        pending = self._loading.get(key_hash)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[KeyEntry | None] = asyncio.get_running_loop().create_future()
        self._loading[key_hash] = future
        epoch = self._cache.epoch
        try:
            entry = await self._load(key_hash)
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # retrieved: waiters get it, nobody is warned about an unretrieved one
            raise
        finally:
            del self._loading[key_hash]
        self._cache.put(key_hash, entry, epoch, self._monotonic())
        future.set_result(entry)
        return entry

    async def _load(self, key_hash: str) -> KeyEntry | None:
        query = (
            select(
                api_keys,
                users.c.role.label("user_role"),
                users.c.disabled_at.label("user_disabled_at"),
                users.c.rpm_limit.label("user_rpm"),
                users.c.tpm_limit.label("user_tpm"),
                tenants.c.rpm_limit.label("tenant_rpm"),
                tenants.c.tpm_limit.label("tenant_tpm"),
            )
            .select_from(
                api_keys.outerjoin(users, users.c.id == api_keys.c.user_id).outerjoin(
                    tenants, tenants.c.id == api_keys.c.tenant_id
                )
            )
            .where(api_keys.c.key_hash == key_hash)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else key_entry(row)


def key_entry(row: Any) -> KeyEntry:
    """A joined api_keys/users/tenants row as the cache keeps it."""
    key_id, user_id, tenant_id = row["id"], row["user_id"], row["tenant_id"]
    limits = [
        *_limits(f"key:{key_id}", row["rpm_limit"], row["tpm_limit"]),
        *([Limit(f"key:{key_id}", "requests", row["rph_limit"], HOUR)] if row["rph_limit"] else []),
        *(_limits(f"user:{user_id}", row["user_rpm"], row["user_tpm"]) if user_id else []),
        *_limits(f"tenant:{tenant_id}", row["tenant_rpm"], row["tenant_tpm"]),
    ]
    models = row["allowed_models"]
    principal = Principal(
        key_id=key_id,
        user_id=user_id,
        department_id=row["department_id"],
        tenant_id=tenant_id,
        role=weaker(row["role"], row["user_role"]),
        allowed_models=frozenset(models) if models is not None else None,
        limits=tuple(limits),
        budget_id=row["budget_id"],
        guardrails=key_guardrails.of(row["metadata"]),
    )
    revoked = row["revoked_at"] or row["user_disabled_at"]  # a disabled user's keys stop until re-enabled
    return KeyEntry(principal, _ts(row["expires_at"]), _ts(revoked), _ts(row["grace_until"]))


def _limits(subject: str, rpm: int | None, tpm: int | None) -> list[Limit]:
    out = []
    if rpm:
        out.append(Limit(subject, "requests", rpm, MINUTE))
    if tpm:
        out.append(Limit(subject, "tokens", tpm, MINUTE))
    return out


def _ts(value: Any) -> float | None:
    return None if value is None else float(value.timestamp())


def _incorrect(key: str) -> AuthenticationFailed:
    shown = key[:6] + "..." + key[-4:] if len(key) > 12 else "****"
    return AuthenticationFailed(f"Incorrect API key provided: {shown}.")
