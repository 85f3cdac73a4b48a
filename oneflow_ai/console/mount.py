"""`Console`: what `create_app` mounts at `/ui`, the console built on its first request.

The console's pages, Jinja2 and their templates take memory in every worker (~4 MiB) that a gateway whose console
nobody opens never uses; they are imported and built when the first request under `/ui` arrives.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class Console:
    def __init__(self) -> None:
        self._app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            from oneflow_ai.console.app import build_console

            self._app = build_console()
        await self._app(scope, receive, send)
