"""The admin API's experiments kept in the database and in every process (as `guardrails.sync` does policies).

A change is written to the database first, then this process reloads, so it applies at once; every `refresh_s`
a background task reloads what is stored, so other workers and replicas apply a change within that bound (one
query each time). Nothing is read per request.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.experiments import store
from oneflow_ai.experiments.registry import Experiments
from oneflow_ai.experiments.split import Experiment
from oneflow_ai.store.periodic import Periodic

log = logging.getLogger("oneflow.experiments")


class StoredExperiments:
    def __init__(self, experiments: Experiments, engine: AsyncEngine, *, refresh_s: float = 5.0) -> None:
        self.experiments = experiments
        self._engine = engine
        self._lock = asyncio.Lock()
        self._refresh = Periodic(self.reload, refresh_s, what="experiments", log=log)

    async def start(self) -> None:
        await self.reload()
        self._refresh.start()

    async def close(self) -> None:
        await self._refresh.close()

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
