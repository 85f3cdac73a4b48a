"""Names for the ids the analytics group by (users, departments, API keys, tenants), so the console labels its
charts "Alice" rather than `usr_3f2a...`. One small read per kind, by primary key, confined to the caller's
tenant: an id of another tenant gets no name (and cannot be in the caller's analytics anyway)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.identity.tables import api_keys, departments, tenants, users

TABLES: Mapping[str, Table] = {"user": users, "department": departments, "key": api_keys, "tenant": tenants}
"""Analytics dimension -> the table naming its ids (each has `id` and `name`)."""


async def names(
    engine: AsyncEngine, tenant: str | None, wanted: Mapping[str, Iterable[str | None]]
) -> dict[str, dict[str, str]]:
    """`{dimension: {id: name}}` for the ids in `wanted` (dimensions of `TABLES`; others and empty ids skipped),
    within `tenant` (None: any)."""
    out: dict[str, dict[str, str]] = {}
    async with engine.connect() as conn:
        for dimension, ids in wanted.items():
            table = TABLES.get(dimension)
            known = sorted({i for i in ids if i})
            if table is None or not known:
                continue
            query = select(table.c.id, table.c.name).where(table.c.id.in_(known))
            if tenant is not None:
                query = query.where((table.c.id if table is tenants else table.c.tenant_id) == tenant)
            out[dimension] = {row.id: row.name for row in await conn.execute(query)}
    return out
