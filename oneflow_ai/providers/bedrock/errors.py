"""Bedrock's errors as ours: an HTTP error (`{"message": ...}` with its type in the `x-amzn-errortype` header) and
an exception inside a stream (an event-stream message of type `exception`), each with the service's message kept
(except for a refused credential, 401/403: see `upstream_error_for_status`) and its `Retry-After` read."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import orjson

from oneflow_ai.errors import ContextWindowExceeded, UpstreamError, upstream_error_for_status
from oneflow_ai.providers.base import keep_rate_limit

STATUS_OF: Mapping[str, int] = MappingProxyType(
    {
        "AccessDeniedException": 403,
        "UnrecognizedClientException": 403,
        "InvalidSignatureException": 403,
        "ExpiredTokenException": 403,
        "ValidationException": 400,
        "ServiceQuotaExceededException": 400,
        "ResourceNotFoundException": 404,
        "ModelTimeoutException": 408,
        "ModelErrorException": 424,
        "ModelStreamErrorException": 424,
        "ThrottlingException": 429,
        "ModelNotReadyException": 429,
        "InternalServerException": 500,
        "ServiceUnavailableException": 503,
    }
)
"""The HTTP status of each Bedrock error type, as its API reference gives it: an exception inside a stream comes with
no status of its own."""
_TOO_LONG = ("input is too long", "prompt is too long", "too many input tokens", "exceed context limit")


def error_type(headers: Mapping[str, str]) -> str:
    """The error's type from `x-amzn-errortype` (`ThrottlingException:http://internal.amazon.com/...`)."""
    value = headers.get("x-amzn-errortype") or headers.get("X-Amzn-ErrorType") or ""
    return value.split(":", 1)[0]


def bedrock_error(
    status: int, body: bytes, headers: Mapping[str, str], provider: str, *, deployment: str = ""
) -> UpstreamError:
    """An HTTP error answer of Bedrock as our error."""
    return keep_rate_limit(_error(status, error_type(headers), _message(body, status), provider, deployment), headers)


def stream_exception(kind: str, payload: bytes, provider: str) -> UpstreamError:
    """An exception message of a ConverseStream (`throttlingException`, `modelStreamErrorException`...)."""
    name = kind[:1].upper() + kind[1:]
    return _error(STATUS_OF.get(name, 500), name, _message(payload, 500), provider, "")


def _error(status: int, kind: str, message: str, provider: str, deployment: str) -> UpstreamError:
    if status == 400 and kind == "ValidationException" and any(p in message.lower() for p in _TOO_LONG):
        return ContextWindowExceeded(message, param="messages", provider=provider, upstream_status=status)
    if status == 424:  # the model failed (ModelErrorException, ModelStreamErrorException): not the caller's request
        status = 502
    return upstream_error_for_status(status, f"{provider}: {message}", provider=provider, deployment=deployment)


def _message(body: bytes, status: int) -> str:
    parsed: Any = None
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    if isinstance(parsed, dict):
        message = parsed.get("message") or parsed.get("Message")
        if isinstance(message, str) and message:
            return message
    return body[:500].decode(errors="replace") or f"HTTP {status}"
