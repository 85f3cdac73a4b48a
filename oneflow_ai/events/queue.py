"""The dispatcher's claims on the outbox and on delivery jobs, safe with several replicas.

A claim is one UPDATE that stamps rows with this claim's token and a lease, choosing them with
`FOR UPDATE SKIP LOCKED` on PostgreSQL (two replicas never wait on, nor take, the same rows) and re-checking the
lease in the UPDATE itself (on SQLite, where the statement is atomic and FOR UPDATE is not rendered, that check is
the whole guard). A replica that dies holding a claim loses it when the lease ends.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import RowMapping, Table, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.store.tables import event_outbox, webhook_jobs

LEASE = timedelta(seconds=60)


async def claim(engine: AsyncEngine, table: Table, pending: Any, now: datetime, limit: int) -> list[RowMapping]:
    free = or_(table.c.claimed_until.is_(None), table.c.claimed_until < now)
    chosen = select(table.c.id).where(pending, free).order_by(table.c.id).limit(limit)
    if engine.dialect.name == "postgresql":
        chosen = chosen.with_for_update(skip_locked=True)
    async with engine.connect() as conn:  # a read first: an idle queue costs no write lock (SQLite's is global)
        if (await conn.execute(select(table.c.id).where(pending, free).limit(1))).first() is None:
            return []
    token = uuid.uuid4().hex
    async with engine.begin() as conn:
        await conn.execute(
            update(table)
            .where(table.c.id.in_(chosen.scalar_subquery()), free)
            .values(claim=token, claimed_until=now + LEASE)
        )
        rows = await conn.execute(select(table).where(table.c.claim == token).order_by(table.c.id))
        return list(rows.mappings().all())


async def new_events(engine: AsyncEngine, now: datetime, limit: int = 100) -> list[RowMapping]:
    return await claim(engine, event_outbox, event_outbox.c.fanned_at.is_(None), now, limit)


async def due_jobs(engine: AsyncEngine, now: datetime, limit: int = 50) -> list[RowMapping]:
    pending = and_(webhook_jobs.c.done_at.is_(None), webhook_jobs.c.next_at <= now)
    return await claim(engine, webhook_jobs, pending, now, limit)
