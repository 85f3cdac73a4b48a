"""One Redis round trip for many calls of batch scripts (rate limits, budget reservations and settlements).

A round trip costs far more than the script runs it carries (~50 us of CPU with `RespClient`, ~200 through
redis-py's pipeline), so the hot path never sends a command of its own. A `BatchScript` is a Lua script that takes any
number of calls at once (their KEYS and ARGV one after the other, each call's reply a fixed number of values,
one after the other). `RedisBatches` gathers the calls every component makes and sends them as one pipeline
with one `EVALSHA` per script (group commit: at most one round trip in flight; what arrives meanwhile goes in
the next). Under load a request pays a small share of a round trip; alone, one round trip for all it needs.

A script reads its calls' arguments as one JSON array of strings (`local ARGS = cjson.decode(ARGV[1])`):
redis-py encodes each argument of a command on its own in Python, and a batch has dozens per request.

`call` waits for its reply. `post` is a write behind: it rides with the next round trip someone waits for, or
goes after `behind_s` with the others posted meanwhile (a round trip carrying only writes behind is never sent
sooner, so a busy gateway whose calls Redis need not decide sends one round trip per `behind_s`). Each call is
atomic on its own inside its script's run. `gather` is a write behind whose call is made only as its round trip
is formed: a caller that sums its writes meanwhile (the rate limits' charges per bucket) sends one call per round
trip instead of one per request.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from oneflow_ai.store.resp import RespClient

log = logging.getLogger("oneflow")

Value = str
"""Arguments are strings (the scripts read them as such; numbers formatted by the caller)."""
Then = Callable[[list[Any]], None]
Failed = Callable[[Exception], None]
Gathered = tuple["BatchScript", Sequence[str], Sequence[Value], int, Then | None, Failed | None]
"""A call of `post`'s: script, keys, args, size, then, failed."""
Gather = Callable[[], list[Gathered]]


class BatchScript:
    """A batch script's Lua body, which reads `ARGS` (its calls' arguments, decoded from the one JSON argument)."""

    def __init__(self, body: str) -> None:
        self.lua = "local ARGS = cjson.decode(ARGV[1])\n" + body
        self.sha = hashlib.sha1(self.lua.encode()).hexdigest()


@dataclass(slots=True)
class _Call:
    script: BatchScript
    keys: Sequence[str]
    args: Sequence[Value]
    size: int
    sink: asyncio.Future[list[Any]] | Then | None
    failed: Failed | None = None


class RedisBatches:
    def __init__(self, redis: RespClient, *, behind_s: float = 0.05, max_batch: int = 512) -> None:
        self._redis = redis
        self._behind_s = behind_s
        self._max_batch = max_batch
        self._queue: list[_Call] = []
        self._gathers: list[Gather] = []
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    async def call(self, script: BatchScript, keys: Sequence[str], args: Sequence[Value], size: int) -> list[Any]:
        """This call's `size` reply values, from the next round trip (or the round trip's error, raised)."""
        return await self.submit(script, keys, args, size)

    def submit(
        self, script: BatchScript, keys: Sequence[str], args: Sequence[Value], size: int
    ) -> asyncio.Future[list[Any]]:
        """`call`, queued now: the future of its reply (several callers can queue before any of them waits)."""
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Call(script, keys, args, size, future))
        self._wake()
        return future

    def post(
        self,
        script: BatchScript,
        keys: Sequence[str],
        args: Sequence[Value],
        size: int,
        then: Then | None = None,
        failed: Failed | None = None,
    ) -> None:
        """Send without waiting: `then` gets the reply values once they are back, `failed` the error if the round
        trip failed (without one, the failure is logged)."""
        self._queue.append(_Call(script, keys, args, size, then, failed))
        self._behind()

    def gather(self, make: Gather) -> None:
        """`post` the calls `make()` returns when the next round trip is formed. `make` is asked once; whoever
        gathers registers it again for the round trip after."""
        self._gathers.append(make)
        self._behind()

    def _behind(self) -> None:
        if self._task is None and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._behind_s, self._wake)

    def _collect(self) -> None:
        gathers, self._gathers = self._gathers, []
        for make in gathers:
            self._queue.extend(_Call(*made) for made in make())

    @property
    def pending(self) -> int:
        return len(self._queue) + len(self._gathers)

    async def drain(self) -> None:
        """Until everything queued so far has been sent (shutdown)."""
        while self._queue or self._gathers or self._task is not None:
            if self._task is None:
                self._wake()
            assert self._task is not None
            await asyncio.shield(self._task)

    def _wake(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._queue or self._gathers:
                self._collect()
                if not self._queue:
                    break
                batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
                try:
                    replies = await self._send(batch)
                except Exception as e:
                    self._fail(batch, e)
                    continue
                except BaseException:  # cancelled (shutdown): nobody may wait forever
                    for c in (*batch, *self._queue):
                        if isinstance(c.sink, asyncio.Future):
                            c.sink.cancel()
                    self._queue.clear()
                    raise
                for c, reply in zip(batch, replies, strict=True):
                    if isinstance(c.sink, asyncio.Future):
                        if not c.sink.done():
                            c.sink.set_result(reply)
                    elif c.sink is not None:
                        try:
                            c.sink(reply)
                        except Exception:
                            log.exception("a batched Redis call's follow-up failed")
                if len(self._queue) + len(self._gathers) < self._max_batch and not any(
                    isinstance(c.sink, asyncio.Future) for c in self._queue
                ):
                    break  # only writes behind are left: they wait for a call someone waits on, or `behind_s`
        finally:
            self._task = None
            if (self._queue or self._gathers) and self._timer is None:
                self._timer = asyncio.get_running_loop().call_later(self._behind_s, self._wake)

    async def _send(self, batch: list[_Call]) -> list[list[Any]]:
        """One pipeline: one EVALSHA per script with all of its calls; the replies cut back per call."""
        scripts: dict[BatchScript, list[_Call]] = {}
        for c in batch:
            scripts.setdefault(c.script, []).append(c)
        commands: list[list[str | int | bytes]] = []
        for script, calls in scripts.items():
            keys = [k for c in calls for k in c.keys]
            args = orjson.dumps([a for c in calls for a in c.args])
            commands.append(["EVALSHA", script.sha, len(keys), *keys, args])
        results = await self._redis.execute(commands)
        missing = [i for i, r in enumerate(results) if _no_script(r)]
        if missing:  # first use, or Redis restarted or flushed its scripts: load them, send those once more
            order = list(scripts)  # (only those: the others have run, and must not run twice)
            loaded = await self._redis.execute([["SCRIPT", "LOAD", order[i].lua] for i in missing])
            for reply in loaded:
                if isinstance(reply, Exception):  # an error reply (`RespClient` returns them as values)
                    raise reply
            again = await self._redis.execute([commands[i] for i in missing])
            for i, result in zip(missing, again, strict=True):
                results[i] = result
        by_call: dict[int, list[Any]] = {}
        for calls, result in zip(scripts.values(), results, strict=True):
            if isinstance(result, Exception):
                raise result
            i = 0
            for c in calls:
                by_call[id(c)] = list(result[i : i + c.size])
                i += c.size
        return [by_call[id(c)] for c in batch]

    async def close(self) -> None:
        await self.drain()
        await self._redis.close()

    def _fail(self, batch: list[_Call], error: Exception) -> None:
        lost = 0
        for c in batch:
            if isinstance(c.sink, asyncio.Future):
                if not c.sink.done():
                    c.sink.set_exception(error)
            elif c.failed is not None:
                try:
                    c.failed(error)
                except Exception:
                    log.exception("a batched Redis call's failure handler failed")
            else:
                lost += 1
        if lost:
            log.warning("%d Redis writes behind were lost: %s", lost, type(error).__name__)


def _no_script(reply: Any) -> bool:
    return isinstance(reply, Exception) and str(reply).startswith("NOSCRIPT")
