"""Clients' scores for their calls (`POST /api/v1/feedback`), kept in the `feedback` table: one per call, a
second post replacing the first.

A call is known by its ledger record, written behind the call in batches: a score posted right after the answer
may come before its record. While this process still holds records not yet written (`Ledger.depth`), the lookup
is tried again until `wait_s`; an id that is nowhere is 404 at once when nothing is waiting to be written.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.store.dialects import upsert_dialect
from oneflow_ai.store.tables import feedback, usage_records

WAIT_S = 2.0
POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class CallOwner:
    key_id: str | None
    tenant_id: str | None


async def owner(engine: AsyncEngine, request_id: str) -> CallOwner | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(usage_records.c.key_id, usage_records.c.tenant_id).where(
                    usage_records.c.request_id == request_id
                )
            )
        ).first()
    return None if row is None else CallOwner(row.key_id, row.tenant_id)


async def wait_for_owner(
    engine: AsyncEngine, request_id: str, pending: Callable[[], int], wait_s: float = WAIT_S
) -> CallOwner | None:
    """The call's owner once its record is written; None when it is not and nothing is left to write (`pending()`
    is 0) or `wait_s` has passed."""
    deadline = time.monotonic() + wait_s
    while True:
        found = await owner(engine, request_id)
        if found is not None or not pending() or time.monotonic() >= deadline:
            return found
        await asyncio.sleep(POLL_S)


async def put(
    engine: AsyncEngine, request_id: str, who: CallOwner, score: float, comment: str | None, at: datetime
) -> None:
    dialect = upsert_dialect(engine.dialect.name)
    stmt = dialect.insert(feedback).values(
        request_id=request_id,
        tenant_id=who.tenant_id,
        key_id=who.key_id,
        score=score,
        comment=comment,
        created_at=at,
        updated_at=at,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[feedback.c.request_id],
        set_={"score": stmt.excluded.score, "comment": stmt.excluded.comment, "updated_at": stmt.excluded.updated_at},
    )
    async with engine.begin() as conn:
        await conn.execute(stmt)
