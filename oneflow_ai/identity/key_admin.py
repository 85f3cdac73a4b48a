"""Virtual API keys, as the admin API manages them: create, list, read, edit, revoke, rotate.

Tenant owners and admins manage every key of their tenant; a member manages the keys of their own user; a
viewer reads the tenant's keys. A key outside what the caller may see answers 404. Nobody grants more than
they hold (`bounds`): a key made, changed or rotated by a restricted caller stays within the caller's models,
limits, budget, department and expiry, and a key changes only its own name and metadata. The secret exists only in
the answer to create/rotate; the database keeps its SHA-256. Every change invalidates the key in every
replica's cache (`invalidation`) after it is committed together with its audit record.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import RowMapping, false, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from oneflow_ai.auth.principal import Principal
from oneflow_ai.errors import InvalidRequest, PermissionDenied
from oneflow_ai.identity import audit, key_guardrails
from oneflow_ai.identity.audit import Actor
from oneflow_ai.identity.bounds import bounds_of, check, check_self_edit, inherit
from oneflow_ai.identity.config import IdentitySettings
from oneflow_ai.identity.credentials import new_api_key, new_id
from oneflow_ai.identity.directory import department_in, tenant_exists, user_in
from oneflow_ai.identity.invalidation import Invalidations
from oneflow_ai.identity.roles import (
    ID,
    Can,
    NotFoundInTenant,
    can,
    may_grant,
    require_any,
    scope,
    target_tenant,
    well_formed,
)
from oneflow_ai.identity.schemas import KeyCreate, KeyCreated, KeyPublic, KeyUpdate
from oneflow_ai.identity.tables import DEFAULT_TENANT, api_keys, now_utc
from oneflow_ai.store import cursor

COPIED_ON_ROTATION = (
    "name",
    "role",
    "user_id",
    "department_id",
    "tenant_id",
    "allowed_models",
    "rpm_limit",
    "rph_limit",
    "tpm_limit",
    "budget_id",
    "expires_at",
    "metadata",
)


def key_public(row: RowMapping) -> KeyPublic:
    values = {k: row[k] for k in KeyPublic.model_fields if k not in ("object", "guardrails")}
    values["metadata"] = key_guardrails.public(row["metadata"])
    return KeyPublic.model_validate({**values, "guardrails": list(key_guardrails.of(row["metadata"]))})


class KeyAdmin:
    def __init__(self, engine: AsyncEngine, invalidations: Invalidations, settings: IdentitySettings) -> None:
        self._engine = engine
        self._invalidations = invalidations
        self._settings = settings

    async def create(self, p: Principal, body: KeyCreate, actor: Actor) -> KeyCreated:
        require_any(p, Can.MANAGE_TENANT, Can.MANAGE_OWN_KEYS)
        tenant_id = target_tenant(p, body.tenant_id, DEFAULT_TENANT)
        values = body.model_dump(exclude={"tenant_id"})
        if not can(p, Can.MANAGE_TENANT):
            if body.user_id not in (None, p.user_id) or p.user_id is None:
                raise PermissionDenied("You may only create keys for yourself.")
            values["user_id"] = p.user_id
        may_grant(p, body.role)
        s = self._settings
        for field, default in (
            ("rpm_limit", s.key_default_rpm),
            ("rph_limit", s.key_default_rph),
            ("tpm_limit", s.key_default_tpm),
        ):
            if field not in body.model_fields_set:
                values[field] = default
        secret, key_id = new_api_key(), new_id("key")
        async with self._engine.begin() as conn:
            bounds = await bounds_of(conn, p)
            values = inherit(bounds, values, body.model_fields_set)
            await self._check_refs(conn, tenant_id, values.get("user_id"), values.get("department_id"))
            check(bounds, values)
            values = key_guardrails.fold(values, None, p.guardrails)
            await conn.execute(
                insert(api_keys).values(
                    id=key_id,
                    prefix=secret.prefix,
                    key_hash=secret.hash,
                    tenant_id=tenant_id,
                    created_at=now_utc(),
                    **values,
                )
            )
            await audit.record(
                conn,
                actor,
                "api_key.create",
                tenant_id=tenant_id,
                target_type="api_key",
                target_id=key_id,
                detail={"role": body.role, "user_id": values.get("user_id")},
            )
            row = await self._row(conn, p, key_id)
        await self._invalidations.publish([secret.hash])  # forget a cached "no such key"
        return KeyCreated(key=secret.key, **key_public(row).model_dump())

    async def list(
        self,
        p: Principal,
        *,
        user_id: str | None,
        limit: int,
        offset: int,
        after: tuple[datetime, str] | None = None,
    ) -> list[KeyPublic]:
        """Oldest first, by (created_at, id); `after` is the last key of the previous page (`store.cursor`)."""
        query = self._visible(p, select(api_keys)).order_by(api_keys.c.created_at, api_keys.c.id)
        if after is not None:
            query = query.where(cursor.after([api_keys.c.created_at, api_keys.c.id], after))
        if user_id is not None:
            if not ID.fullmatch(user_id):
                return []
            query = query.where(api_keys.c.user_id == user_id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.limit(limit).offset(offset))).mappings().all()
        return [key_public(r) for r in rows]

    async def get(self, p: Principal, key_id: str) -> KeyPublic:
        async with self._engine.connect() as conn:
            return key_public(await self._row(conn, p, key_id))

    async def update(self, p: Principal, key_id: str, body: KeyUpdate, actor: Actor) -> KeyPublic:
        changes = body.model_dump(exclude_unset=True)
        if "role" in changes:
            may_grant(p, changes["role"])
        if key_id == p.key_id:
            check_self_edit(changes)
        return await self._change(p, key_id, changes, "api_key.update", actor, bounded=True)

    async def revoke(self, p: Principal, key_id: str, actor: Actor) -> KeyPublic:
        """Revoking only takes away, so a caller may revoke any key it manages, beyond its bounds or not."""
        return await self._change(p, key_id, {"revoked_at": now_utc()}, "api_key.revoke", actor, bounded=False)

    async def rotate(self, p: Principal, key_id: str, grace_s: int, actor: Actor) -> KeyCreated:
        secret, new_key_id, now = new_api_key(), new_id("key"), now_utc()
        async with self._engine.begin() as conn:
            old = await self._manageable(conn, p, key_id)
            if key_id != p.key_id:  # a key may rotate itself; another's secret is as good as what that key holds
                check(await bounds_of(conn, p), dict(old))
            if old["revoked_at"] is not None or (old["grace_until"] is not None and old["grace_until"] <= now):
                raise InvalidRequest("A revoked or already retired key cannot be rotated.")
            grace_until = now + timedelta(seconds=grace_s)
            if old["grace_until"] is not None:
                grace_until = min(grace_until, old["grace_until"])
            await conn.execute(
                insert(api_keys).values(
                    id=new_key_id,
                    prefix=secret.prefix,
                    key_hash=secret.hash,
                    rotated_from=key_id,
                    created_at=now,
                    **{k: old[k] for k in COPIED_ON_ROTATION},
                )
            )
            await conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(grace_until=grace_until))
            await audit.record(
                conn,
                actor,
                "api_key.rotate",
                tenant_id=old["tenant_id"],
                target_type="api_key",
                target_id=key_id,
                detail={"new_key_id": new_key_id, "grace_period_s": grace_s},
            )
            row = await self._row(conn, p, new_key_id)
        await self._invalidations.publish([old["key_hash"], secret.hash])
        return KeyCreated(key=secret.key, **key_public(row).model_dump())

    async def _change(
        self, p: Principal, key_id: str, changes: dict[str, Any], action: str, actor: Actor, *, bounded: bool
    ) -> KeyPublic:
        async with self._engine.begin() as conn:
            old = await self._manageable(conn, p, key_id)
            if changes.get("department_id") is not None:
                await department_in(conn, changes["department_id"], old["tenant_id"])
            if bounded and key_id != p.key_id:  # a key's own edits are limited to its name and metadata
                check(await bounds_of(conn, p), {**old, **changes})
            if bounded:
                changes = key_guardrails.fold(changes, old["metadata"], p.guardrails)
            if changes:
                await conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(**changes))
            await audit.record(
                conn,
                actor,
                action,
                tenant_id=old["tenant_id"],
                target_type="api_key",
                target_id=key_id,
                detail={k: str(v) for k, v in changes.items() if k != "metadata"},
            )
            row = await self._row(conn, p, key_id)
        await self._invalidations.publish([old["key_hash"]])
        return key_public(row)

    def _visible(self, p: Principal, query: Any) -> Any:
        """Confine a query on api_keys to what `p` may see."""
        own = scope(p)
        if own is not None:
            query = query.where(api_keys.c.tenant_id == own)
        if not can(p, Can.READ_TENANT):
            query = query.where(api_keys.c.user_id == p.user_id) if p.user_id else query.where(false())
        return query

    async def _row(self, conn: AsyncConnection, p: Principal, key_id: str) -> RowMapping:
        query = self._visible(p, select(api_keys)).where(api_keys.c.id == well_formed("API key", key_id))
        row = (await conn.execute(query)).mappings().first()
        if row is None:
            raise NotFoundInTenant("API key", key_id)
        return row

    async def _manageable(self, conn: AsyncConnection, p: Principal, key_id: str) -> RowMapping:
        row = await self._row(conn, p, key_id)
        own_key = p.user_id is not None and row["user_id"] == p.user_id
        if not (can(p, Can.MANAGE_TENANT) or (own_key and can(p, Can.MANAGE_OWN_KEYS))):
            raise PermissionDenied("You may not change this API key.")
        may_grant(p, row["role"])  # an admin does not touch an owner's key
        return row

    async def _check_refs(
        self, conn: AsyncConnection, tenant_id: str, user_id: str | None, department_id: str | None
    ) -> None:
        await tenant_exists(conn, tenant_id)
        if user_id is not None:
            await user_in(conn, user_id, tenant_id)
        if department_id is not None:
            await department_in(conn, department_id, tenant_id)
