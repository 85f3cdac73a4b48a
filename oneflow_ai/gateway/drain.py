"""The end of a shutdown's grace: calls still running are cut by the gateway, answered and recorded.

On SIGTERM uvicorn stops accepting connections and lets the requests in flight finish for its
`timeout_graceful_shutdown` (`ONEFLOW_SHUTDOWN_GRACE_S`); then it cancels their tasks, and a call cut that way gets
uvicorn's plain-text 500, no `x-request-id` and no ledger record. So the gateway cuts them itself, `CUT_MARGIN_S`
earlier: the server protocol (`api.http_protocol`) calls `Drain.cut_after` when the shutdown begins on a connection
with a request in flight; when the time comes, `cutting` is set and every request task is cancelled. The pipeline
and the relay, seeing `cutting`, turn that cancellation into a `cut` record (HTTP status 503): a call whose
answer had not started gets the 503 `shutting_down` error JSON; a stream that had started ends with that error
as its last event (`api.fast_lane.send_stream`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Set

CUT_MARGIN_S = 1.0
"""How long before uvicorn's own deadline the gateway cuts (at most half the grace)."""


class Drain:
    __slots__ = ("_timer", "cutting")

    def __init__(self) -> None:
        self.cutting = False
        """Set when the grace ran out: a cancelled call is being cut, not left by its client."""
        self._timer: asyncio.TimerHandle | None = None

    def cut_after(self, loop: asyncio.AbstractEventLoop, grace_s: float, tasks: Set[asyncio.Task[None]]) -> None:
        """The shutdown began and `tasks` are the server's request tasks: cut those still running near the end of
        `grace_s` (uvicorn's deadline). Called once per connection; the first call sets the time."""
        if self._timer is None:
            self._timer = loop.call_later(grace_s - min(CUT_MARGIN_S, grace_s / 2), self._cut, tasks)

    def _cut(self, tasks: Set[asyncio.Task[None]]) -> None:
        self.cutting = True
        for task in list(tasks):
            task.cancel()
