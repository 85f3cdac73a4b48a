"""Upstreams that can be broken and mended while a test runs, each on its own real port."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.conftest import UPSTREAM_KEY
from tests.fakes.openai_upstream import OpenAIUpstream, usage
from tests.fakes.runner import AiohttpServer


class Healable(OpenAIUpstream):
    """The shared fake, whose failing models (`fake-429`, `fake-hang`, `fake-error-500`, ...) answer
    normally once `healed` is set."""

    def __init__(self) -> None:
        super().__init__(require_key=UPSTREAM_KEY)
        self.healed = False

    async def chat(self, request: web.Request) -> web.StreamResponse:
        if not self.healed:
            return await super().chat(request)
        body = await request.json()
        self.received.append({"path": request.path_qs, "headers": dict(request.headers), "body": body})
        message = {"role": "assistant", "content": "healed", "refusal": None}
        return web.json_response(
            {
                "id": "chatcmpl-healed",
                "object": "chat.completion",
                "created": 1700000000,
                "model": body["model"],
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
                "usage": usage(),
            }
        )

    def models(self) -> list[str]:
        return [r["body"].get("model") for r in self.received]


class Upstream:
    """A `Healable` on a real port that can be killed and restarted on the same port (as a new process would)."""

    def __init__(self) -> None:
        self.fake = Healable()
        self.server: AiohttpServer | None = AiohttpServer(self.fake.app)
        self.port = self.server.port
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.earlier: list[dict[str, Any]] = []

    def kill(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def restart(self) -> None:
        """A fresh, healthy upstream on the same port; what the old one received is kept in `earlier`."""
        self.kill()
        self.earlier += self.fake.received
        self.fake = Healable()
        self.server = AiohttpServer(self.fake.app, port=self.port)
