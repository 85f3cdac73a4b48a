"""The audit log: who did what to which object, when, and from where.

An admin change and its audit row are written in one transaction: there is no change without its record and
no record of a change that rolled back. (The admin API is not the hot path; a synchronous write there costs
nothing that matters, and a write-behind queue could lose the record of the very action an attacker took.)
Authentication events (logins, failed logins, refresh-token reuse) are recorded the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from oneflow_ai.auth.principal import Principal
from oneflow_ai.events import outbox
from oneflow_ai.identity.schemas import AuditEntry
from oneflow_ai.identity.tables import audit_log, now_utc


@dataclass(frozen=True, slots=True)
class Actor:
    """The caller of an admin action and the address the request came from."""

    principal: Principal | None
    source_ip: str | None


async def record(
    conn: AsyncConnection,
    actor: Actor,
    action: str,
    *,
    tenant_id: str | None,
    target_type: str | None = None,
    target_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    p = actor.principal
    at = now_utc()
    await conn.execute(
        insert(audit_log).values(
            at=at,
            tenant_id=tenant_id,
            actor_key_id=p.key_id if p else None,
            actor_user_id=p.user_id if p else None,
            action=action,
            target_type=target_type,
            target_id=target_id,
            source_ip=(actor.source_ip or "")[:64] or None,
            detail=detail,
        )
    )
    event = outbox.from_audit(action, tenant_id, target_id, detail, at)
    if event is not None:  # an action that is an event too (a key created, rotated, revoked): same transaction
        await outbox.write(conn, event)


async def entries(
    engine: AsyncEngine, tenant_id: str | None, *, limit: int, before: int | None, action: str | None
) -> tuple[list[AuditEntry], bool]:
    """Newest first (by id); `tenant_id` None (the superuser) reads every tenant's entries; `before` is an entry
    id: the page starts after it (a cursor holds the last id of the previous page, `store.cursor`)."""
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit + 1)
    if tenant_id is not None:
        query = query.where(audit_log.c.tenant_id == tenant_id)
    if before is not None:
        query = query.where(audit_log.c.id < before)
    if action is not None:
        query = query.where(audit_log.c.action == action)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [AuditEntry.model_validate(dict(r)) for r in rows[:limit]], len(rows) > limit
