"""Anthropic's `POST /v1/messages/count_tokens` for clients using the `anthropic` SDK's `messages.count_tokens`:
asked of an Anthropic deployment, counted by the gateway for the others (`gateway.count_tokens`). Errors are
rendered in Anthropic's error shape. Its path and documentation are declared in `operations.OPERATIONS`.
"""

from __future__ import annotations

import orjson

from oneflow_ai.api.anthropic_routes import protocol_headers
from oneflow_ai.api.fast_lane import Inbound, Reply
from oneflow_ai.api.openai_routes import authenticated, parse_json
from oneflow_ai.errors import GatewayError
from oneflow_ai.gateway.call import JSONReply
from oneflow_ai.gateway.count_tokens import count_tokens
from oneflow_ai.providers.anthropic_inbound import anthropic_error_body


async def serve_count_tokens(inbound: Inbound) -> Reply:
    try:
        principal = await authenticated(inbound)
        body = parse_json(inbound.body)
        return await count_tokens(inbound.gateway, inbound.request_id, principal, body, protocol_headers(inbound))
    except GatewayError as e:
        return JSONReply(orjson.dumps(anthropic_error_body(e.status, e.message)), e.headers, e.status)
