"""Anthropic's native Messages API (`POST /v1/messages`) for clients using the `anthropic` SDK.

Served by the same pipeline as every other call (so any provider can answer it, with the same fallbacks,
pricing and ledger). An Anthropic deployment is sent the caller's body as it is (`gateway.passthrough`:
`cache_control`, `thinking`, `top_k` and the rest kept) and its answer comes back as it came; any other
deployment is sent the request translated to OpenAI format, and its answer is translated back.
Errors are rendered in Anthropic's error shape, which the `anthropic` SDK expects. Its path and documentation are
declared in `operations.OPERATIONS`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson

from oneflow_ai.api.fast_lane import Inbound, Reply
from oneflow_ai.api.openai_routes import authenticated, parse_json
from oneflow_ai.errors import GatewayError, Untranslatable
from oneflow_ai.gateway.call import JSONReply, NativeBody, StreamReply, chat_call, steering
from oneflow_ai.gateway.pipeline import complete
from oneflow_ai.providers.anthropic_inbound import (
    MessagesStreamEncoder,
    anthropic_error_body,
    error_event,
    messages_response_from_openai,
    openai_request_from_messages,
    stand_in_for_messages,
)
from oneflow_ai.providers.anthropic_native import ANTHROPIC_MESSAGES, CLIENT_HEADERS
from oneflow_ai.upstream.sse import SSEParser


async def serve_messages(inbound: Inbound) -> Reply:
    try:
        principal = await authenticated(inbound)
        body = parse_json(inbound.body)
        body, fallbacks, strategy = steering(
            body if isinstance(body, dict) else {}, inbound.header(b"x-oneflow-strategy")
        )
        untranslatable: Untranslatable | None = None
        try:
            openai_body = openai_request_from_messages(body)
        except Untranslatable as e:  # only an Anthropic deployment can serve it
            openai_body, untranslatable = stand_in_for_messages(body), e
        user = inbound.header(b"x-user-id")
        call = chat_call(inbound.request_id, principal, openai_body, user, strategy, user_param="metadata.user_id")
        call.endpoint = "messages"
        call.fallbacks = fallbacks
        call.client_request_id = inbound.client_request_id
        call.balancer_id = inbound.balancer_id
        call.native = NativeBody(ANTHROPIC_MESSAGES, body, protocol_headers(inbound), untranslatable)
        reply = await complete(inbound.gateway, call)
    except GatewayError as e:
        return JSONReply(orjson.dumps(anthropic_error_body(e.status, e.message)), e.headers, e.status)
    if reply.wire == "anthropic":  # an Anthropic deployment served it: its answer, as it came
        return reply
    if isinstance(reply, StreamReply):
        return StreamReply(_anthropic_events(reply, call.model), reply.headers, reply.receiver)
    translated = messages_response_from_openai(reply.json(), call.model)
    return JSONReply(orjson.dumps(translated), reply.headers)


def protocol_headers(inbound: Inbound) -> dict[str, str]:
    """The caller's `anthropic-version` and `anthropic-beta`, for an Anthropic deployment."""
    out = {}
    for name in CLIENT_HEADERS:
        value = inbound.header(name.encode())
        if value is not None:
            out[name] = value
    return out


async def _anthropic_events(reply: StreamReply, model: str) -> AsyncIterator[bytes]:
    encoder = MessagesStreamEncoder(model)
    parser = SSEParser()
    try:
        async for frame in reply.frames:
            for event in parser.feed(frame):
                if event.data == b"[DONE]":
                    continue
                chunk = orjson.loads(event.data)
                if "error" in chunk:
                    error = chunk["error"]
                    yield error_event(str(error.get("message")), "api_error")
                    return
                for out in encoder.feed(chunk):
                    yield out
        for out in encoder.finish():
            yield out
    finally:
        await reply.frames.aclose()  # type: ignore[attr-defined]
