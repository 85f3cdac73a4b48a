"""A call a stage answered itself (`gateway.stages.Responder`, a cache): sent as a reply or, when the caller asked
for a stream, as an OpenAI chat stream; recorded once, `ok`, with the responder as its provider, no deployment,
no attempt and no cost. A stream is recorded when it ends (`client_aborted` when its client left before).
A cache hit (`Answer.cache_kind`) is recorded as one, with the tokens and the cost it saved; the headers the
stages gave the call (`x-oneflow-cache`, rate limits) go with the answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson

from oneflow_ai.gateway.accounting import Outcome, finish
from oneflow_ai.gateway.call import Call, JSONReply, StreamReply
from oneflow_ai.gateway.relay import SSE_HEADERS
from oneflow_ai.gateway.runtime import Gateway
from oneflow_ai.gateway.stages import Answer
from oneflow_ai.gateway.stream_guard import GuardStopped, stream_guard
from oneflow_ai.upstream.sse import DONE, frame


def answered(gw: Gateway, call: Call, answer: Answer) -> JSONReply | StreamReply:
    source = "stage" if answer.usage is not None else "none"
    outcome = Outcome("ok", 200, None, answer.usage, source, answer.model, attempts=0, provider=answer.served_by)
    outcome.cache_kind, outcome.saved_usd = answer.cache_kind, answer.saved_usd
    headers = {**call.response_headers, "x-oneflow-provider": answer.served_by, "x-oneflow-attempts": "0"}
    if not call.stream:
        finish(gw, call, outcome)
        return JSONReply(answer.body, headers)
    frames = [frame(orjson.dumps(c)) for c in chunks_of(answer, usage=call.wants_usage)] + [DONE]
    return StreamReply(_stream(gw, call, frames, outcome), {**SSE_HEADERS, **headers})


async def _stream(gw: Gateway, call: Call, frames: list[bytes], outcome: Outcome) -> AsyncIterator[bytes]:
    guard = stream_guard(gw.stages, call)
    try:
        yield b"".join(guard.feed(frames) if guard is not None else frames)
    except GuardStopped as stop:
        outcome.status, outcome.http_status = "rejected", stop.error.status
        yield frame(orjson.dumps(stop.error.body()))
    except (asyncio.CancelledError, GeneratorExit):
        outcome.status, outcome.http_status = "client_aborted", 499
        raise
    finally:
        finish(gw, call, outcome)


def chunks_of(answer: Answer, *, usage: bool) -> list[dict[str, Any]]:
    """The chat completion `answer.body` as the chunks of a stream: per choice, its message then its finish."""
    completion = orjson.loads(answer.body)
    if not isinstance(completion, dict):
        raise ValueError(f"{answer.served_by} answered with something that is not a chat completion")
    identity = {
        "id": completion.get("id", ""),
        "object": "chat.completion.chunk",
        "created": completion.get("created", 0),
        "model": completion.get("model", answer.model or ""),
    }
    out: list[dict[str, Any]] = []
    for choice in completion.get("choices") or ():
        index = choice.get("index", 0)
        delta = {k: v for k, v in (choice.get("message") or {}).items() if v is not None}
        if isinstance(delta.get("tool_calls"), list):  # a stream's tool calls say their place
            delta["tool_calls"] = [{"index": i, **c} for i, c in enumerate(delta["tool_calls"]) if isinstance(c, dict)]
        out.append({**identity, "choices": [{"index": index, "delta": delta, "finish_reason": None}]})
        out.append(
            {**identity, "choices": [{"index": index, "delta": {}, "finish_reason": choice.get("finish_reason")}]}
        )
    if usage and answer.usage is not None:
        out.append({**identity, "choices": [], "usage": answer.usage.to_openai()})
    return out
