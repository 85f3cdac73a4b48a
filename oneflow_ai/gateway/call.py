"""What one request is, once parsed and authenticated, and what the pipeline answers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from oneflow_ai.auth.principal import Principal
from oneflow_ai.errors import InvalidRequest


@dataclass(slots=True)
class Call:
    request_id: str
    principal: Principal
    endpoint: str
    body: dict[str, Any]
    model: str
    stream: bool = False
    wants_usage: bool = False
    end_user: str | None = None
    started: float = field(default_factory=time.perf_counter)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(slots=True)
class JSONReply:
    body: bytes
    headers: Mapping[str, str]
    status: int = 200


@dataclass(slots=True)
class StreamReply:
    frames: AsyncIterator[bytes]
    headers: Mapping[str, str]


def chat_call(request_id: str, principal: Principal, body: Any, end_user_header: str | None) -> Call:
    """Check the few fields the gateway relies on; every other field passes through untouched."""
    body = _object(body)
    model = _model(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty array of message objects", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InvalidRequest(f"messages[{i}] must be an object with a 'role'", param=f"messages[{i}]")
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise InvalidRequest("'stream' must be a boolean", param="stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise InvalidRequest("'stream_options' must be an object", param="stream_options")
    wants_usage = bool(stream and options and options.get("include_usage"))
    user = body.get("user")
    return Call(
        request_id, principal, "chat", body, model, bool(stream), wants_usage,
        end_user=user if isinstance(user, str) else end_user_header,
    )


def embeddings_call(request_id: str, principal: Principal, body: Any, end_user_header: str | None) -> Call:
    body = _object(body)
    model = _model(body)
    value = body.get("input")
    if not (isinstance(value, (str, list)) and value):
        raise InvalidRequest("'input' must be a non-empty string or array", param="input")
    user = body.get("user")
    return Call(
        request_id, principal, "embeddings", body, model,
        end_user=user if isinstance(user, str) else end_user_header,
    )


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return body


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("You must provide a model parameter.", param="model", code="missing_model")
    return model
