"""OpenAI's Responses API (`POST /v1/responses`) for clients using `client.responses.create` (or the Vercel AI SDK's
default `openai(model)`).

Served by the same pipeline as every other call (routing, fallbacks, limits, budgets, pricing, the ledger with
endpoint `responses`). An OpenAI deployment is sent the caller's body as it is (`providers.openai_responses`:
`previous_response_id`, `store`, built-in tools and the rest kept) and its answer, or its events, come back as
they came; any other deployment is sent the request translated to chat completions
(`providers.responses_request`), and its answer is translated back (`responses_reply`, `responses_stream`).
A request that only OpenAI can serve (stored state, built-in tools) is a 400 naming the field when no OpenAI
deployment serves the model. Errors are OpenAI's error JSON.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from oneflow_ai.api.fast_lane import Inbound, Reply
from oneflow_ai.api.openai_routes import authenticated, parse_json
from oneflow_ai.errors import InvalidRequest, Untranslatable
from oneflow_ai.gateway.call import JSONReply, NativeBody, StreamReply, chat_call, steering
from oneflow_ai.gateway.pipeline import complete
from oneflow_ai.providers.openai_responses import OPENAI_RESPONSES
from oneflow_ai.providers.responses_reply import responses_from_chat
from oneflow_ai.providers.responses_request import chat_from_responses, stand_in_for_responses
from oneflow_ai.providers.responses_stream import ResponsesStreamEncoder
from oneflow_ai.upstream.sse import SSEParser


async def serve_responses(inbound: Inbound) -> Reply:
    principal = await authenticated(inbound)
    raw = parse_json(inbound.body)
    if not isinstance(raw, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    body, fallbacks, strategy = steering(raw, inbound.header(b"x-oneflow-strategy"))
    untranslatable: Untranslatable | None = None
    try:
        chat_body = chat_from_responses(body)
    except Untranslatable as e:  # only an OpenAI deployment can serve it
        chat_body, untranslatable = stand_in_for_responses(body), e
    call = chat_call(inbound.request_id, principal, chat_body, inbound.header(b"x-user-id"), strategy)
    call.endpoint = "responses"
    call.fallbacks = fallbacks
    call.client_request_id = inbound.client_request_id
    call.balancer_id = inbound.balancer_id
    call.native = NativeBody(OPENAI_RESPONSES, body, {}, untranslatable)
    reply = await complete(inbound.gateway, call)
    if reply.wire == OPENAI_RESPONSES.name:  # an OpenAI deployment served it: its answer, as it came
        return reply
    if isinstance(reply, StreamReply):
        return StreamReply(_response_events(reply, body), reply.headers, reply.receiver)
    return JSONReply(orjson.dumps(responses_from_chat(reply.json(), body)), reply.headers)


async def _response_events(reply: StreamReply, request: dict[str, Any]) -> AsyncIterator[bytes]:
    encoder = ResponsesStreamEncoder(request)
    parser = SSEParser()
    try:
        async for frame in reply.frames:
            out: list[bytes] = []
            for event in parser.feed(frame):
                if event.data == b"[DONE]":
                    continue
                chunk = orjson.loads(event.data)
                if "error" in chunk:  # the relay's own frame for a stream that failed mid-way
                    error = chunk["error"] if isinstance(chunk["error"], dict) else {}
                    yield b"".join(out) + encoder.error(str(error.get("message")), str(error.get("code") or "error"))
                    return
                out += encoder.feed(chunk)
            if out:
                yield b"".join(out)
        yield b"".join(encoder.finish())
    finally:
        await reply.frames.aclose()  # type: ignore[attr-defined]
