"""Run an ASGI app or an aiohttp app on a real port in a background thread with its own event loop."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import web

START_LIMIT_S = 120.0
"""How long a server under test may take to start: `oneflow serve` answers `/health` in ~2 s alone, and was seen to
take 24 s on a 2-core machine running other test sessions."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LoopThread:
    """An event loop in a daemon thread; `run(coro)` executes a coroutine there and waits for it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class AiohttpServer:
    """A fake upstream: an aiohttp application on 127.0.0.1:<port>."""

    def __init__(self, app: web.Application, port: int | None = None) -> None:
        self.app = app
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = LoopThread()
        self._runner = web.AppRunner(app, handle_signals=False, handler_cancellation=True, shutdown_timeout=0.1)

        async def start() -> None:
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

        self._loop.run(start(), timeout=START_LIMIT_S)

    def stop(self) -> None:
        self._loop.run(self._runner.cleanup(), timeout=START_LIMIT_S)
        self._loop.stop()


class UvicornServer:
    """The gateway itself, served by uvicorn over real HTTP with the protocol `oneflow serve` uses."""

    def __init__(self, app_factory: Callable[[], Any], port: int | None = None) -> None:
        import uvicorn

        from oneflow_ai.api.http_protocol import GatewayProtocol

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app_factory(),
            host="127.0.0.1",
            port=self.port,
            loop="asyncio",
            http=GatewayProtocol,  # type: ignore[arg-type]
            log_level="warning",
            lifespan="on",
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + START_LIMIT_S
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the gateway did not start (its start-up failed: see the log above)")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the gateway did not start within {START_LIMIT_S:g}s")
            self.thread.join(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
