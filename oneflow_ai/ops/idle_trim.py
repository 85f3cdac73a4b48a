"""Give memory back once a burst of calls is over (`ONEFLOW_IDLE_TRIM_S`, default 1 s; 0: never).

The edge counts the calls it has started and those in flight (`api.edge.Edge`, two integer operations a call). A
task looks at those counts every half quiet period, off every call's path; once no call has been in flight, and
none has started, for `quiet_s`, it gives memory back (`ops.heap.give_back`): once per burst, not again until a
call has come and gone. A worker that is never quiet never trims, and one that stays quiet trims once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

log = logging.getLogger("oneflow")


class Traffic(Protocol):
    """What the watcher reads: calls started so far, and calls not finished."""

    @property
    def calls(self) -> int: ...

    @property
    def in_flight(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Quiet:
    seen: int
    """Calls started, as last seen."""
    since: float
    """When a call was last seen starting or running (the clock's seconds)."""
    trimmed: int
    """Calls started as of the last trim (or the start)."""


def watch(state: Quiet, calls: int, in_flight: int, now: float, quiet_s: float) -> tuple[Quiet, bool]:
    """The watcher's next state after looking at the counts at `now`, and whether to give memory back now: no call
    ran for `quiet_s`, and some call has come and gone since the last trim."""
    if calls != state.seen or in_flight:
        return Quiet(calls, now, state.trimmed), False
    if calls != state.trimmed and now - state.since >= quiet_s:
        return replace(state, trimmed=calls), True
    return state, False


class IdleTrim:
    def __init__(
        self,
        traffic: Traffic,
        quiet_s: float,
        give_back: Callable[[], object],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._traffic = traffic
        self._quiet_s = quiet_s
        self._give_back = give_back
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        calls = self._traffic.calls
        start = Quiet(calls, self._clock(), calls)  # what came before is not a burst's
        self._task = asyncio.create_task(self._run(start), name="oneflow-idle-trim")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self, state: Quiet) -> None:
        while True:
            await asyncio.sleep(self._quiet_s / 2)
            state, now = watch(state, self._traffic.calls, self._traffic.in_flight, self._clock(), self._quiet_s)
            if now:
                try:
                    self._give_back()
                except Exception:  # this task must keep running
                    log.exception("could not give memory back after a burst of calls")
