"""Raw-record retention: ledger records older than `days` are deleted (their hourly aggregates are kept).

Runs at start-up and then every hour; with several replicas each one prunes, which is harmless.
`days = 0` keeps every record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.store.tables import usage_records

log = logging.getLogger("oneflow.ledger")


async def prune_records(engine: AsyncEngine, older_than: datetime) -> int:
    """Delete the raw ledger records created before `older_than`; returns how many went."""
    async with engine.begin() as conn:
        result = await conn.execute(delete(usage_records).where(usage_records.c.created_at < older_than))
    return int(result.rowcount or 0)


class Retention:
    def __init__(
        self,
        engine: AsyncEngine,
        days: int,
        *,
        every_s: float = 3600.0,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._days = days
        self._every_s = every_s
        self._wall = wall
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._days > 0:
            self._task = asyncio.create_task(self._run(), name="oneflow-retention")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def prune(self) -> int:
        if self._days <= 0:
            return 0  # 0 keeps every record
        return await prune_records(self._engine, self._wall() - timedelta(days=self._days))

    async def _run(self) -> None:
        while True:
            try:
                if deleted := await self.prune():
                    log.info("deleted %d ledger records older than %d days", deleted, self._days)
            except Exception:
                log.exception("ledger retention failed; trying again in %ss", self._every_s)
            await asyncio.sleep(self._every_s)
