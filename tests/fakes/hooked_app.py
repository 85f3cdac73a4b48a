"""The real app with test hooks: `POST <path>` runs `hook(state)` on the gateway's own event loop, with the
lifespan state (the gateway, its stores), and answers 204. Every other request goes to the app unchanged.

For faults no configuration can cause (an admission that raises, a Redis pool held by someone else)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

Hook = Callable[[dict[str, Any]], Awaitable[None]]


class HookedApp:
    def __init__(self, app: ASGIApp, hooks: Mapping[str, Hook]) -> None:
        self.app = app
        self.hooks = hooks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hook = self.hooks.get(scope["path"]) if scope["type"] == "http" else None
        if hook is None:
            await self.app(scope, receive, send)
            return
        await hook(scope["state"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
