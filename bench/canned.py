"""The fake upstream's canned bodies and the request bodies the load generators send.

Everything is built once, deterministically, so every run sends and receives the same bytes.
"""

from __future__ import annotations

from typing import Any

import orjson

_CONTENT = (
    "Benchmarks measure what a system does under a stated load; a number without its load, machine and "
    "command is an anecdote. This canned answer is long enough to look like a real short reply."
)


def chat_completion() -> bytes:
    """A non-streamed OpenAI `chat.completion` (~600 bytes) with a full `usage` block."""
    body: dict[str, Any] = {
        "id": "chatcmpl-bench000000000000000000000000",
        "object": "chat.completion",
        "created": 1730000000,
        "model": "bench-upstream-model",
        "system_fingerprint": "fp_bench",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": _CONTENT, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 25,
            "completion_tokens": 41,
            "total_tokens": 66,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        },
    }
    return orjson.dumps(body)


STREAM_CONTENT_FRAMES = 20


def chat_stream() -> bytes:
    """An SSE body: a role frame, 20 content frames, a finish frame, a usage frame, then `[DONE]`."""
    words = _CONTENT.split(" ")
    size = -(-len(words) // STREAM_CONTENT_FRAMES)
    pieces = [" ".join(words[i * size : (i + 1) * size]) + " " for i in range(STREAM_CONTENT_FRAMES)]
    base: dict[str, Any] = {
        "id": "chatcmpl-bench000000000000000000000000",
        "object": "chat.completion.chunk",
        "created": 1730000000,
        "model": "bench-upstream-model",
        "system_fingerprint": "fp_bench",
    }
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}, *({"content": p} for p in pieces)]
    frames = [{**base, "choices": [{"index": 0, "delta": d, "logprobs": None, "finish_reason": None}]} for d in deltas]
    frames.append({**base, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]})
    frames.append({**base, "choices": [], "usage": {"prompt_tokens": 25, "completion_tokens": 41, "total_tokens": 66}})
    return b"".join(b"data: " + orjson.dumps(f) + b"\n\n" for f in frames) + b"data: [DONE]\n\n"


def stream_frame_count() -> int:
    """How many `data:` frames one streamed response carries, `[DONE]` included."""
    return chat_stream().count(b"data: ")


def embeddings() -> bytes:
    """An OpenAI embeddings list with one 64-dimension vector and usage."""
    vector = [round(((i * 37) % 101) / 101 - 0.5, 6) for i in range(64)]
    body = {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": vector}],
        "model": "bench-upstream-embedding",
        "usage": {"prompt_tokens": 8, "total_tokens": 8},
    }
    return orjson.dumps(body)


def chat_request(model: str, *, stream: bool = False) -> bytes:
    """The request body clients send: a short system + user conversation."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Write one sentence about benchmarks."},
        ],
        "max_tokens": 64,
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return orjson.dumps(body)
