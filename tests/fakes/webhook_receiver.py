"""A webhook receiver: records every POST (headers and raw body) and answers the statuses it is given in turn
(then 200)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._hook)
        return app

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        with self._lock:
            self.received.append(Received(request.path, {k.lower(): v for k, v in request.headers.items()}, body))
            status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status, text="ok" if status < 300 else "boom")

    def wait_for(self, n: int, timeout_s: float = 20.0, path: str | None = None) -> list[Received]:
        """The first `n` requests (to `path`, if given), waiting for them to arrive."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                got = [r for r in self.received if path is None or r.path == path]
            if len(got) >= n or time.monotonic() > deadline:
                return got
            time.sleep(0.02)
