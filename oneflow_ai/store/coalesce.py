"""Many concurrent calls, one round trip: `Coalescer` gathers what callers submit while a round trip is in flight
and sends it as the next batch (group commit), so a remote store's per-call cost is paid once per batch.

At most one batch is in flight. Under load a batch holds every call that arrived during the previous round trip;
at one request at a time it holds one call, and costs what a direct call would. `post` queues an item whose
caller does not wait for its result (a write behind), to ride with the next batch; `then`, if given, is called
with the result once the batch is back (never when it failed: `run` is to handle its own failures).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("oneflow")


class Coalescer(Generic[T, R]):
    def __init__(self, run: Callable[[list[T]], Awaitable[Sequence[R]]], *, max_batch: int = 512) -> None:
        self._run = run
        self._max_batch = max_batch
        self._queue: list[tuple[T, asyncio.Future[R] | Callable[[R], None] | None]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """`run`'s result for this item, from the next batch (or `run`'s exception)."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self._wake()
        return await future

    def post(self, item: T, then: Callable[[R], None] | None = None) -> None:
        """Queue an item for the next batch without waiting for it (a failure is `run`'s to handle)."""
        self._queue.append((item, then))
        self._wake()

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def drain(self) -> None:
        """Until everything queued so far has been sent (shutdown)."""
        while self._task is not None:
            await asyncio.shield(self._task)

    def _wake(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
                try:
                    results = await self._run([item for item, _ in batch])
                except Exception as e:
                    for _, sink in batch:
                        if isinstance(sink, asyncio.Future) and not sink.done():
                            sink.set_exception(e)
                    continue
                except BaseException:  # cancelled (shutdown): nobody may wait forever
                    for _, sink in (*batch, *self._queue):
                        if isinstance(sink, asyncio.Future):
                            sink.cancel()
                    self._queue.clear()
                    raise
                for (_, sink), result in zip(batch, results, strict=True):
                    if isinstance(sink, asyncio.Future):
                        if not sink.done():
                            sink.set_result(result)
                    elif sink is not None:
                        try:
                            sink(result)
                        except Exception:
                            log.exception("a batched write's follow-up failed")
        finally:
            self._task = None
