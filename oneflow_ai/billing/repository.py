"""Budgets in the database: the `budgets` table (those made through the admin API), the threshold events,
and the spend so far read from the hourly aggregates (never from the raw ledger rows)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from oneflow_ai.billing.budget import SCOPE_COLUMNS, Budget, Slot
from oneflow_ai.billing.periods import EPOCH, format_thresholds, parse_thresholds
from oneflow_ai.events import outbox
from oneflow_ai.events.budgets import threshold_events
from oneflow_ai.identity.tables import api_keys
from oneflow_ai.store.dialects import upsert_dialect
from oneflow_ai.store.tables import budget_events, budgets, usage_hourly


def utc(value: datetime) -> datetime:
    """SQLite gives datetimes back without their zone; every one we store is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _budget(row: Row[Any]) -> Budget:
    return Budget(
        id=row.id,
        scope=row.scope,
        scope_id=row.scope_id,
        period=row.period,
        limit_usd=Decimal(row.limit_usd),
        thresholds=parse_thresholds(row.thresholds),
        source="api",
        created_at=utc(row.created_at),
        updated_at=utc(row.updated_at),
    )


def _values(b: Budget) -> dict[str, Any]:
    return {
        "scope": b.scope,
        "scope_id": b.scope_id,
        "period": b.period,
        "limit_usd": b.limit_usd,
        "thresholds": format_thresholds(b.thresholds),
        "updated_at": b.updated_at,
    }


class BudgetRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        dialect = upsert_dialect(engine.dialect.name)
        self._insert_event = dialect.insert(budget_events).on_conflict_do_nothing(
            index_elements=["budget_id", "period_start", "threshold"]
        )

    async def load(self) -> list[Budget]:
        async with self._engine.connect() as conn:
            return [_budget(r) for r in await conn.execute(select(budgets).order_by(budgets.c.created_at))]

    async def add(self, b: Budget) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(insert(budgets).values(id=b.id, created_at=b.created_at, **_values(b)))

    async def replace(self, b: Budget) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(update(budgets).where(budgets.c.id == b.id).values(**_values(b)))
        return bool(result.rowcount)

    async def remove(self, budget_id: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(budgets).where(budgets.c.id == budget_id))
        return bool(result.rowcount)

    async def spent(self, slots: Sequence[Slot]) -> dict[str, Decimal]:
        """Each slot's spend from the hourly aggregates since its period began: one query per (scope, start),
        and one per budget that keys name (`api_keys.budget_id`) for their spend outside its scope."""
        groups: dict[tuple[str, datetime], list[Slot]] = defaultdict(list)
        for slot in slots:
            groups[(slot.budget.scope, slot.start)].append(slot)
        out = {slot.key: Decimal(0) for slot in slots}
        async with self._engine.connect() as conn:
            for (scope, start), members in groups.items():
                column = usage_hourly.c[SCOPE_COLUMNS[scope]]
                ids = sorted({s.budget.scope_id for s in members})
                query = (
                    select(column, func.sum(usage_hourly.c.cost_usd))
                    .where(usage_hourly.c.hour >= start, column.in_(ids))
                    .group_by(column)
                )
                sums = {scope_id: Decimal(total or 0) for scope_id, total in await conn.execute(query)}
                for s in members:
                    out[s.key] = sums.get(s.budget.scope_id, Decimal(0))
            ids = sorted({s.budget.id for s in slots})
            named = select(api_keys.c.budget_id).where(api_keys.c.budget_id.in_(ids)).distinct()
            names = {budget_id for (budget_id,) in await conn.execute(named)}
            for s in slots:
                if s.budget.id in names:
                    out[s.key] += await self._named_spend(conn, s)
        return out

    @staticmethod
    async def _named_spend(conn: AsyncConnection, slot: Slot) -> Decimal:
        """The spend since the slot's start of the keys that name its budget, outside the budget's own scope."""
        keys = select(api_keys.c.id).where(api_keys.c.budget_id == slot.budget.id)
        column = usage_hourly.c[SCOPE_COLUMNS[slot.budget.scope]]
        query = select(func.sum(usage_hourly.c.cost_usd)).where(
            usage_hourly.c.hour >= slot.start,
            usage_hourly.c.key_id.in_(keys),
            column != slot.budget.scope_id,
        )
        return Decimal((await conn.execute(query)).scalar() or 0)

    async def fired(self, since: datetime) -> set[tuple[str, datetime, Decimal]]:
        """(budget id, period start, threshold) of the events recorded for periods since `since` (and `total`)."""
        query = select(budget_events.c.budget_id, budget_events.c.period_start, budget_events.c.threshold).where(
            or_(budget_events.c.period_start >= since, budget_events.c.period_start == EPOCH)
        )
        async with self._engine.connect() as conn:
            return {(b, utc(p), Decimal(t).normalize()) for b, p, t in await conn.execute(query)}

    async def add_events(self, events: Iterable[dict[str, Any]]) -> None:
        """Threshold events, each once per budget, period and threshold across replicas (the unique key); one
        this call wrote is also written to the event outbox, in the same transaction (`events.budgets`)."""
        rows = list(events)
        if rows:
            async with self._engine.begin() as conn:
                for row in rows:
                    budget = row.get("budget")
                    values = {k: v for k, v in row.items() if k != "budget"}
                    inserted = (await conn.execute(self._insert_event, values)).rowcount
                    if inserted and isinstance(budget, Budget):
                        for event in threshold_events(budget, values):
                            await outbox.write(conn, event)
