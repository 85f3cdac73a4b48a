"""A background task that reloads something kept in the database every `every_s` seconds (policies, experiments),
so a change one replica makes reaches the others within that bound. A failed reload (the database is down) is
logged and tried again at the next turn: the task never dies of it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable


class Periodic:
    def __init__(
        self, reload: Callable[[], Awaitable[object]], every_s: float, *, what: str, log: logging.Logger
    ) -> None:
        self._reload = reload
        self._every_s = every_s
        self._what = what
        self._log = log
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"oneflow-refresh-{self._what.replace(' ', '-')}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every_s)
            try:
                await self._reload()
            except Exception as e:  # the database is down, or anything else: this task must keep running
                name = type(e).__name__
                self._log.warning(
                    "could not reload the %s (%s); trying again in %.0fs", self._what, name, self._every_s
                )
