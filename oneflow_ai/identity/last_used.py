"""`api_keys.last_used_at`, written behind: the hot path marks a key in a dict; a task writes the marks in one
batch every `interval_s` (and once more on shutdown). Losing a few seconds of it in a crash is harmless."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.identity.tables import api_keys

log = logging.getLogger("oneflow.identity")


class LastUsed:
    def __init__(self, engine: AsyncEngine, interval_s: float = 5.0) -> None:
        self._engine = engine
        self._interval_s = interval_s
        self._marks: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._update = update(api_keys).where(api_keys.c.id == bindparam("key_id")).values(last_used_at=bindparam("at"))

    def mark(self, key_id: str) -> None:
        self._marks[key_id] = asyncio.get_running_loop().time()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="oneflow-key-last-used")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.flush()

    async def flush(self) -> None:
        if not self._marks:
            return
        marks, self._marks = self._marks, {}
        loop_now, wall_now = asyncio.get_running_loop().time(), datetime.now(UTC).timestamp()
        rows = [{"key_id": k, "at": datetime.fromtimestamp(wall_now - (loop_now - t), UTC)} for k, t in marks.items()]
        async with self._engine.begin() as conn:
            await conn.execute(self._update, rows)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.flush()
            except Exception:
                log.exception("could not record when API keys were last used")
