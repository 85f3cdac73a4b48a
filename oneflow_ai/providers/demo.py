"""The built-in `demo` upstream: deterministic, local, no network, streams too.

It is a `Transport` that answers OpenAI wire format in-process, so a demo request takes exactly the path a
real OpenAI-compatible request takes (translation, SSE parsing, usage, pricing, ledger). Upstream models:
`demo` answers; `demo-error` fails with a 500; `demo-embedding` embeds.
"""

from __future__ import annotations

import hashlib
import struct
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from oneflow_ai.providers import demo_media
from oneflow_ai.upstream.sse import DONE, frame
from oneflow_ai.upstream.wire import UpstreamRequest, UpstreamResponse

EMBEDDING_DIMENSIONS = 8


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
    async def send(self, request: UpstreamRequest, *, stream: bool) -> UpstreamResponse:
        media = demo_media.answer(request)  # demo-image, demo-speech
        if media is not None:
            return media
        body: dict[str, Any] = orjson.loads(request.body)
        model = str(body.get("model"))
        if model == "demo-error":
            error = {"error": {"message": "demo upstream failure", "type": "server_error", "param": None, "code": None}}
            return DemoResponse(500, orjson.dumps(error))
        if request.url.endswith("/embeddings"):
            return DemoResponse(200, orjson.dumps(embeddings(body)))
        return DemoResponse(200, frames=chat_frames(body)) if stream else DemoResponse(200, orjson.dumps(chat(body)))


def reply_words(body: Mapping[str, Any]) -> tuple[list[str], int]:
    """The demo's answer as words, and the prompt's size in words."""
    said = ""
    prompt_words = 0
    for message in body.get("messages") or ():
        text = _text(message.get("content"))
        prompt_words += len(text.split())
        if message.get("role") == "user":
            said = text
    words = ["This", "is", "OneFlow's", "demo", "model.", "You", "said:", *said.split()[:64]]
    limit = body.get("max_tokens") or body.get("max_completion_tokens")
    if isinstance(limit, int) and limit > 0:
        words = words[:limit]
    return words, prompt_words


def chat(body: Mapping[str, Any]) -> dict[str, Any]:
    words, prompt_words = reply_words(body)
    return {
        "id": "chatcmpl-demo",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model"),
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": " ".join(words)}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt_words,
            "completion_tokens": len(words),
            "total_tokens": prompt_words + len(words),
        },
    }


def chat_frames(body: Mapping[str, Any]) -> list[bytes]:
    words, prompt_words = reply_words(body)
    base = {
        "id": "chatcmpl-demo",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model"),
    }
    frames = [frame(orjson.dumps({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}))]
    for i, word in enumerate(words):
        piece = word if i == 0 else " " + word
        frames.append(frame(orjson.dumps({**base, "choices": [{"index": 0, "delta": {"content": piece}}]})))
    frames.append(frame(orjson.dumps({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})))
    if (body.get("stream_options") or {}).get("include_usage"):
        usage = {
            "prompt_tokens": prompt_words,
            "completion_tokens": len(words),
            "total_tokens": prompt_words + len(words),
        }
        frames.append(frame(orjson.dumps({**base, "choices": [], "usage": usage})))
    frames.append(DONE)
    return frames


def embeddings(body: Mapping[str, Any]) -> dict[str, Any]:
    inputs = body.get("input")
    items = inputs if isinstance(inputs, list) else [inputs]
    data = [{"object": "embedding", "index": i, "embedding": _vector(str(item))} for i, item in enumerate(items)]
    tokens = sum(len(str(item).split()) for item in items)
    return {
        "object": "list",
        "data": data,
        "model": body.get("model"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _vector(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    raw = struct.unpack(f"<{EMBEDDING_DIMENSIONS}i", digest[: 4 * EMBEDDING_DIMENSIONS])
    return [round(v / 2**31, 6) for v in raw]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""
