"""The budget threshold events (`budget_events`: a budget's spend crossed one of its thresholds in a period),
newest first, a page at a time by an opaque cursor (the event's id)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.billing.budget import Budget
from oneflow_ai.billing.repository import utc
from oneflow_ai.pricing import decimal_str
from oneflow_ai.store import cursor
from oneflow_ai.store.aggregates import sqlite_money
from oneflow_ai.store.tables import budget_events


async def page(
    engine: AsyncEngine, budget_ids: Collection[str] | None, *, limit: int, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """(events, next cursor) of the budgets `budget_ids` (None: every budget, the master key's view)."""
    c = budget_events.c
    query = select(budget_events).order_by(c.id.desc()).limit(limit + 1)
    if budget_ids is not None:
        if not budget_ids:
            return [], None
        query = query.where(c.budget_id.in_(sorted(budget_ids)))
    if after is not None:
        (last,) = cursor.decode(after, ("int",))
        query = query.where(cursor.after([c.id], [last], descending=True))
    async with engine.connect() as conn:
        rows = [dict(r) for r in (await conn.execute(query)).mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, cursor.encode([rows[-1]["id"]]) if more else None


def public(row: Mapping[str, Any], budget: Budget | None, sqlite: bool) -> dict[str, Any]:
    spend = sqlite_money(row["spend_usd"]) if sqlite else Decimal(row["spend_usd"])
    threshold = Decimal(row["threshold"]).normalize()
    return {
        "id": row["id"],
        "object": "budget.event",
        "budget_id": row["budget_id"],
        "scope": budget.scope if budget else None,
        "scope_id": budget.scope_id if budget else None,
        "period_start": utc(row["period_start"]).isoformat(),
        "threshold": decimal_str(threshold),
        "percent": decimal_str(threshold * 100),
        "spend_usd": decimal_str(spend),
        "limit_usd": decimal_str(budget.limit_usd) if budget else None,
        "created_at": utc(row["created_at"]).isoformat(),
    }
