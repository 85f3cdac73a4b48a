"""The end of a stream translated into OpenAI's format: the usage chunk a caller asked for
(`stream_options.include_usage`), then `[DONE]`. Shared by every provider whose stream is translated."""

from __future__ import annotations

from typing import Any

import orjson

from oneflow_ai.upstream.sse import DONE, frame


def stream_end(
    chunk_id: str, created: int, model: str, usage: dict[str, Any] | None, *, wants_usage: bool
) -> list[bytes]:
    """The frames that close the stream: the usage chunk (when asked and known), then `[DONE]`."""
    if not wants_usage or usage is None:
        return [DONE]
    chunk = {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage,
    }
    return [frame(orjson.dumps(chunk)), DONE]
