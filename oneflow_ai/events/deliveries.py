"""Reading the delivery log (one row per attempt), newest first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.events.outbox import utc
from oneflow_ai.store.tables import webhook_deliveries


async def recent(
    engine: AsyncEngine, tenant: str | None, *, limit: int, event_id: str | None = None
) -> list[dict[str, Any]]:
    """`tenant` None (the superuser): every delivery; else the deliveries of that tenant's events and endpoints."""
    t = webhook_deliveries
    query = select(t).order_by(t.c.id.desc()).limit(limit)
    if tenant is not None:
        query = query.where(t.c.tenant_id == tenant)
    if event_id is not None:
        query = query.where(t.c.event_id == event_id)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [
        {
            "object": "webhook.delivery",
            **{k: v for k, v in r.items() if k not in ("started_at", "finished_at")},
            "started_at": utc(r["started_at"]).isoformat(),
            "finished_at": utc(r["finished_at"]).isoformat(),
        }
        for r in rows
    ]
