"""Read the usage ledger straight from the database the gateway wrote to."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import select

from oneflow_ai.store.db import create_engine
from oneflow_ai.store.tables import usage_records


def ledger_rows(database_url: str, request_ids: list[str], *, wait_s: float = 30.0) -> list[dict[str, Any]]:
    """The ledger rows for these request ids, waiting for the write-behind batch to land (returns as soon as they
    have: the bound is for a test that fails, far beyond what a busy machine needs)."""

    async def fetch() -> list[dict[str, Any]]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                result = await conn.execute(select(usage_records).where(usage_records.c.request_id.in_(request_ids)))
                return [dict(r._mapping) for r in result]
        finally:
            await engine.dispose()

    deadline = time.monotonic() + wait_s
    while True:
        rows = asyncio.run(fetch())
        if len(rows) >= len(set(request_ids)) or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)
