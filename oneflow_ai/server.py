"""uvicorn on an address bound before anything else starts, saying that it listens only once it serves.

`oneflow serve` binds its address first (`bind`), so that a taken port is a clear error at once, before the
database migration and the gateway's start-up, and then runs uvicorn on that socket (`serve`). The socket is
bound but not listening until uvicorn's server has started (the gateway's start-up done), so a connection is
refused until the gateway can answer it; `announce` is called right then: by the one server, or with several
workers, by the supervisor once the first of them serves.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

WORKER_START_LIMIT_S = 300.0
"""How long the supervisor waits for a worker to serve before it gives up announcing (it keeps supervising)."""


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to the address, not yet listening; `OSError` (with the system's reason) if it cannot be.
    An IPv6 address when `host` has a colon, else IPv4 (`localhost` is 127.0.0.1), as uvicorn binds one."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a restart may reuse the port at once
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve(config: uvicorn.Config, sock: socket.socket, announce: Callable[[], None]) -> int:
    """Run the gateway on `sock` until it is stopped; the exit status (uvicorn's 3 if the one server never started)."""
    if config.workers > 1:
        _Workers(config, [sock], announce).run()
        return 0
    server = _Server(config, announce)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    return 0 if server.started else STARTUP_FAILURE


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, announce: Callable[[], None]) -> None:
        super().__init__(config)
        self._announce = announce

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._announce()


class _Workers(Multiprocess):
    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket], announce: Callable[[], None]) -> None:
        super().__init__(config, sockets)
        self._announce = announce

    def init_processes(self) -> None:
        super().init_processes()
        # The supervisor's loop has not begun: nothing else talks to the workers while this waits.
        if any(p.wait_until_ready(WORKER_START_LIMIT_S, self.should_exit) for p in self.processes):
            self._announce()
