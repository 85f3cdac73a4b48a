"""Tenants, departments and users, as the admin API manages them (access rules in `roles`).

Tenants are created by the superuser; a tenant's owners and admins manage its departments and users. A change
that alters what a key may do (a user's role or limits, a tenant's limits) invalidates the affected keys.

Disabling a user, deleting one or changing their role revokes all their sessions (access and refresh tokens stop
at once). Nobody disables or deletes themselves, an admin cannot touch an owner, and a tenant always keeps an
active owner (409 `last_owner`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from oneflow_ai.auth.principal import Principal
from oneflow_ai.errors import GatewayError, PermissionDenied
from oneflow_ai.identity import audit
from oneflow_ai.identity.audit import Actor
from oneflow_ai.identity.bounds import check_may_manage_users
from oneflow_ai.identity.credentials import new_id
from oneflow_ai.identity.invalidation import Invalidations
from oneflow_ai.identity.roles import (
    Can,
    NotFoundInTenant,
    is_superuser,
    may_grant,
    require,
    scope,
    target_tenant,
    well_formed,
)
from oneflow_ai.identity.schemas import (
    DepartmentCreate,
    DepartmentPublic,
    TenantCreate,
    TenantPublic,
    TenantUpdate,
    UserPublic,
    UserUpdate,
)
from oneflow_ai.identity.sessions import Sessions
from oneflow_ai.identity.tables import DEFAULT_TENANT, api_keys, departments, now_utc, tenants, users
from oneflow_ai.store import cursor


def user_public(row: RowMapping) -> UserPublic:
    return UserPublic.model_validate({k: row[k] for k in UserPublic.model_fields if k != "object"})


async def tenant_exists(conn: AsyncConnection, tenant_id: str) -> None:
    query = select(tenants.c.id).where(tenants.c.id == well_formed("tenant", tenant_id))
    if (await conn.execute(query)).first() is None:
        raise NotFoundInTenant("tenant", tenant_id)


async def department_in(conn: AsyncConnection, department_id: str, tenant_id: str) -> None:
    found = await conn.execute(
        select(departments.c.id).where(
            departments.c.id == well_formed("department", department_id), departments.c.tenant_id == tenant_id
        )
    )
    if found.first() is None:
        raise NotFoundInTenant("department", department_id)


async def user_in(conn: AsyncConnection, user_id: str, tenant_id: str | None) -> RowMapping:
    """A user who has not been deleted, in `tenant_id` (any tenant when None), or 404."""
    query = select(users).where(users.c.id == well_formed("user", user_id), users.c.deleted_at.is_(None))
    if tenant_id is not None:
        query = query.where(users.c.tenant_id == tenant_id)
    row = (await conn.execute(query)).mappings().first()
    if row is None:
        raise NotFoundInTenant("user", user_id)
    return row


def not_yourself(p: Principal, user_id: str, what: str) -> None:
    if p.user_id == user_id:
        raise PermissionDenied(f"You cannot {what} yourself: ask another owner or admin.")


async def keep_an_owner(conn: AsyncConnection, owner: RowMapping) -> None:
    """409 unless the tenant keeps another active owner once `owner` is gone. The tenant's row is locked first,
    so two owners removing each other at once cannot both succeed."""
    tenant_id = owner["tenant_id"]
    await conn.execute(update(tenants).where(tenants.c.id == tenant_id).values(name=tenants.c.name))
    others = await conn.execute(
        select(func.count())
        .select_from(users)
        .where(
            users.c.tenant_id == tenant_id,
            users.c.role == "owner",
            users.c.id != owner["id"],
            users.c.disabled_at.is_(None),
            users.c.deleted_at.is_(None),
        )
    )
    if not others.scalar_one():
        raise GatewayError(
            "A tenant keeps at least one active owner: make someone else an owner first.", status=409, code="last_owner"
        )


class Directory:
    def __init__(self, engine: AsyncEngine, invalidations: Invalidations, sessions: Sessions) -> None:
        self._engine = engine
        self._invalidations = invalidations
        self._sessions = sessions

    async def create_tenant(self, p: Principal, body: TenantCreate, actor: Actor) -> TenantPublic:
        if not is_superuser(p):
            raise PermissionDenied("Only the master key creates tenants.")
        tenant_id = new_id("ten")
        async with self._engine.begin() as conn:
            await conn.execute(insert(tenants).values(id=tenant_id, created_at=now_utc(), **body.model_dump()))
            await audit.record(
                conn, actor, "tenant.create", tenant_id=tenant_id, target_type="tenant", target_id=tenant_id
            )
            return await self._tenant(conn, tenant_id)

    async def list_tenants(self, p: Principal) -> list[TenantPublic]:
        query = select(tenants).order_by(tenants.c.created_at)
        own = scope(p)
        if own is not None:
            query = query.where(tenants.c.id == own)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [TenantPublic.model_validate(dict(r)) for r in rows]

    async def get_tenant(self, p: Principal, tenant_id: str) -> TenantPublic:
        own = scope(p)
        if own is not None and own != tenant_id:
            raise NotFoundInTenant("tenant", tenant_id)
        async with self._engine.connect() as conn:
            return await self._tenant(conn, tenant_id)

    async def update_tenant(self, p: Principal, tenant_id: str, body: TenantUpdate, actor: Actor) -> TenantPublic:
        changes = body.model_dump(exclude_unset=True)
        own = scope(p)
        if own is not None and own != tenant_id:
            raise NotFoundInTenant("tenant", tenant_id)
        require(p, Can.MANAGE_TENANT)
        if not is_superuser(p) and changes.keys() - {"name"}:
            raise PermissionDenied("Only the master key changes a tenant's limits.")
        async with self._engine.begin() as conn:
            await self._tenant(conn, tenant_id)
            if changes:
                await conn.execute(update(tenants).where(tenants.c.id == tenant_id).values(**changes))
            await audit.record(
                conn,
                actor,
                "tenant.update",
                tenant_id=tenant_id,
                target_type="tenant",
                target_id=tenant_id,
                detail=changes,
            )
            result = await self._tenant(conn, tenant_id)
        if changes.keys() - {"name"}:
            await self._invalidations.publish(None)
        return result

    async def create_department(self, p: Principal, body: DepartmentCreate, actor: Actor) -> DepartmentPublic:
        require(p, Can.MANAGE_TENANT)
        tenant_id = target_tenant(p, body.tenant_id, DEFAULT_TENANT)
        department_id = new_id("dep")
        try:
            async with self._engine.begin() as conn:
                await self._tenant(conn, tenant_id)
                await conn.execute(
                    insert(departments).values(
                        id=department_id, tenant_id=tenant_id, name=body.name, created_at=now_utc()
                    )
                )
                await audit.record(
                    conn,
                    actor,
                    "department.create",
                    tenant_id=tenant_id,
                    target_type="department",
                    target_id=department_id,
                )
                row = (await conn.execute(select(departments).where(departments.c.id == department_id))).mappings()
                return DepartmentPublic.model_validate(dict(row.one()))
        except IntegrityError:
            raise GatewayError(
                "A department with this name already exists.", status=409, code="department_exists"
            ) from None

    async def list_departments(self, p: Principal) -> list[DepartmentPublic]:
        require(p, Can.READ_TENANT)
        query = select(departments).order_by(departments.c.created_at)
        own = scope(p)
        if own is not None:
            query = query.where(departments.c.tenant_id == own)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [DepartmentPublic.model_validate(dict(r)) for r in rows]

    async def list_users(
        self, p: Principal, *, limit: int, offset: int, after: tuple[datetime, str] | None = None
    ) -> list[UserPublic]:
        """Oldest first, by (created_at, id); `after` is the last user of the previous page (`store.cursor`)."""
        require(p, Can.READ_TENANT)
        query = (
            select(users)
            .where(users.c.deleted_at.is_(None))
            .order_by(users.c.created_at, users.c.id)
            .limit(limit)
            .offset(offset)
        )
        if after is not None:
            query = query.where(cursor.after([users.c.created_at, users.c.id], after))
        own = scope(p)
        if own is not None:
            query = query.where(users.c.tenant_id == own)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [user_public(r) for r in rows]

    async def get_user(self, p: Principal, user_id: str) -> UserPublic:
        if user_id != p.user_id:
            require(p, Can.READ_TENANT)
        async with self._engine.connect() as conn:
            return user_public(await user_in(conn, user_id, scope(p)))

    async def update_user(self, p: Principal, user_id: str, body: UserUpdate, actor: Actor) -> UserPublic:
        require(p, Can.MANAGE_TENANT)
        changes: dict[str, Any] = body.model_dump(exclude_unset=True, exclude={"unlock", "disabled"})
        if body.unlock:
            changes.update(failed_logins=0, locked_until=None)
        now = now_utc()
        async with self._engine.begin() as conn:
            row = await user_in(conn, user_id, scope(p))
            may_grant(p, row["role"])  # an admin does not edit an owner
            await check_may_manage_users(conn, p)
            if "role" in changes:
                may_grant(p, changes["role"])
            if changes.get("department_id") is not None:
                await department_in(conn, changes["department_id"], row["tenant_id"])
            disabling = body.disabled is True and row["disabled_at"] is None
            if body.disabled is not None:
                changes["disabled_at"] = (row["disabled_at"] or now) if body.disabled else None
            role_changed = changes.get("role", row["role"]) != row["role"]
            if disabling:
                not_yourself(p, user_id, "disable")
            if row["role"] == "owner" and (disabling or role_changed):
                await keep_an_owner(conn, row)
            if changes:
                await conn.execute(update(users).where(users.c.id == user_id).values(**changes))
            detail = {k: v for k, v in changes.items() if k not in ("locked_until", "disabled_at")}
            if body.disabled is not None:
                detail["disabled"] = body.disabled
            if disabling or role_changed:  # what they hold was granted to who they were: they sign in again
                detail["sessions_revoked"] = await self._sessions.revoke_user(
                    conn, user_id, "user_disabled" if disabling else "role_changed", now
                )
            action = "user.update" if body.disabled is None else "user.disable" if body.disabled else "user.enable"
            await audit.record(
                conn, actor, action, tenant_id=row["tenant_id"], target_type="user", target_id=user_id, detail=detail
            )
            hashes = list(
                (await conn.execute(select(api_keys.c.key_hash).where(api_keys.c.user_id == user_id))).scalars()
            )
            result = user_public(await user_in(conn, user_id, None))
        await self._invalidations.publish(hashes)
        return result

    async def delete_user(self, p: Principal, user_id: str, actor: Actor) -> None:
        """A soft delete: the row stays for what names it (keys, sessions, the ledger, the audit log), its e-mail
        and name are scrubbed (the address may register again), its sessions and keys are revoked."""
        require(p, Can.MANAGE_TENANT)
        now = now_utc()
        async with self._engine.begin() as conn:
            row = await user_in(conn, user_id, scope(p))
            may_grant(p, row["role"])  # an admin does not delete an owner
            await check_may_manage_users(conn, p)
            not_yourself(p, user_id, "delete")
            if row["role"] == "owner":
                await keep_an_owner(conn, row)
            await conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(
                    deleted_at=now,
                    email=f"{user_id}@deleted.invalid",
                    name="(deleted)",
                    password_hash="!",  # not an argon2 hash: verifies nothing
                    failed_logins=0,
                    locked_until=None,
                )
            )
            revoked_sessions = await self._sessions.revoke_user(conn, user_id, "user_deleted", now)
            unrevoked = or_(api_keys.c.revoked_at.is_(None), api_keys.c.revoked_at > now)
            live = and_(api_keys.c.user_id == user_id, unrevoked)
            hashes = list((await conn.execute(select(api_keys.c.key_hash).where(live))).scalars())
            await conn.execute(update(api_keys).where(live).values(revoked_at=now))
            await audit.record(
                conn,
                actor,
                "user.delete",
                tenant_id=row["tenant_id"],
                target_type="user",
                target_id=user_id,
                detail={"role": row["role"], "sessions_revoked": revoked_sessions, "keys_revoked": len(hashes)},
            )
        await self._invalidations.publish(hashes)

    async def _tenant(self, conn: AsyncConnection, tenant_id: str) -> TenantPublic:
        query = select(tenants).where(tenants.c.id == well_formed("tenant", tenant_id))
        row = (await conn.execute(query)).mappings().first()
        if row is None:
            raise NotFoundInTenant("tenant", tenant_id)
        return TenantPublic.model_validate(dict(row))
