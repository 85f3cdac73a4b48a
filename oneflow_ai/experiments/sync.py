"""The admin API's experiments kept in the database and in every process (as `guardrails.sync` does policies).

A change is written to the database first, then this process reloads, so it applies at once; every `refresh_s`
a background task reloads what is stored, so other workers and replicas apply a change within that bound (one
query each time). Nothing is read per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.experiments import store
from oneflow_ai.experiments.registry import Experiments
from oneflow_ai.experiments.split import Experiment

log = logging.getLogger("oneflow.experiments")


class StoredExperiments:
    def __init__(self, experiments: Experiments, engine: AsyncEngine, *, refresh_s: float = 5.0) -> None:
        self.experiments = experiments
        self._engine = engine
        self._refresh_s = refresh_s
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.reload()
        self._task = asyncio.create_task(self._run(), name="oneflow-experiments-refresh")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def reload(self) -> None:
        async with self._lock:
            stored = await store.load_all(self._engine)
            if tuple(stored) != self.experiments.stored:
                self.experiments.replace(stored)

    async def create(self, e: Experiment) -> bool:
        """Store a new experiment and run it here at once; False when its tenant has one of that name."""
        if not await store.create(self._engine, e):
            return False
        await self.reload()
        return True

    async def end(self, experiment_id: str, at: datetime) -> bool:
        found = await store.end(self._engine, experiment_id, at)
        await self.reload()
        return found

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_s)
            try:
                await self.reload()
            except Exception as e:  # the database is down, or anything else: this task must keep running
                log.warning(
                    "could not reload the experiments (%s); trying again in %.0fs", type(e).__name__, self._refresh_s
                )
