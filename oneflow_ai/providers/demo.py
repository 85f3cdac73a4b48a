"""The built-in `demo` upstream: deterministic, local, no network, streams too.

It is a `Transport` that answers OpenAI wire format in-process, so a demo request takes exactly the path a
real OpenAI-compatible request takes (translation, SSE parsing, usage, pricing, ledger). Upstream models:
`demo` answers, speaking the whole chat protocol (tools, structured output, `n`, `length`: `demo_chat`);
`demo-error` fails with a 500; `demo-embedding` embeds (`dimensions`, base64: `demo_embeddings`); `demo-image`
and `demo-speech` are `demo_media`'s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from oneflow_ai.errors import InvalidRequest
from oneflow_ai.pricing import TokenCounter
from oneflow_ai.providers import demo_media
from oneflow_ai.providers.demo_chat import chat, chat_frames
from oneflow_ai.providers.demo_embeddings import embeddings
from oneflow_ai.upstream.wire import UpstreamRequest, UpstreamResponse


class DemoResponse:
    def __init__(self, status: int, body: bytes | None = None, frames: list[bytes] | None = None) -> None:
        self.status = status
        content_type = "text/event-stream" if frames is not None else "application/json"
        self.headers: Mapping[str, str] = {"content-type": content_type}
        self._body = body or b""
        self._frames = frames or []

    async def read(self) -> bytes:
        return self._body

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        for f in self._frames:
            yield f

    def close(self) -> None:
        pass


class DemoTransport:
    """Answers in-process; counts tokens with the gateway's tokenizer (`tokens`)."""

    def __init__(self, tokens: TokenCounter | None = None) -> None:
        self.tokens = tokens or TokenCounter()

    async def send(self, request: UpstreamRequest, *, stream: bool) -> UpstreamResponse:
        media = demo_media.answer(request)  # demo-image, demo-speech
        if media is not None:
            return media
        body: dict[str, Any] = orjson.loads(request.body)
        model = str(body.get("model"))
        if model == "demo-error":
            return _error(500, "demo upstream failure", "server_error")
        try:
            if request.url.endswith("/embeddings"):
                return DemoResponse(200, orjson.dumps(embeddings(body, self.tokens)))
            if stream:
                return DemoResponse(200, frames=chat_frames(body, self.tokens))
            return DemoResponse(200, orjson.dumps(chat(body, self.tokens)))
        except InvalidRequest as e:  # as OpenAI refuses it: a 400 with its error body
            return _error(400, e.message, "invalid_request_error", e.param)


def _error(status: int, message: str, type_: str, param: str | None = None) -> DemoResponse:
    error = {"error": {"message": message, "type": type_, "param": param, "code": None}}
    return DemoResponse(status, orjson.dumps(error))
