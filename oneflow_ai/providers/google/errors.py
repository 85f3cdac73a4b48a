"""Google's error body as our error: `{"error": {"code": 429, "message": "...", "status": "RESOURCE_EXHAUSTED",
"details": [...]}}` (the Gemini API and Vertex AI alike). The message is kept (except for a refused credential);
the HTTP status decides the error as for every provider, and a prompt longer than the model takes is
`ContextWindowExceeded`. Google sends no `Retry-After` on a 429 but a `RetryInfo` detail (`"retryDelay": "31s"`):
read as the retry delay (and answered as `Retry-After`) when the header is absent."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import orjson

from oneflow_ai.errors import ContextWindowExceeded, UpstreamError, UpstreamRejected, upstream_error_for_status
from oneflow_ai.providers.base import keep_rate_limit

_TOO_LONG = ("exceeds the maximum number of tokens", "input token count", "context length")
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


def google_error(
    status: int, body: bytes, headers: Mapping[str, str], provider: str, *, deployment: str = ""
) -> UpstreamError:
    detail: Any = None
    try:
        parsed = orjson.loads(body)
        if isinstance(parsed, list) and parsed:  # a stream's error comes as a JSON array of one
            parsed = parsed[0]
        detail = parsed.get("error") if isinstance(parsed, dict) else None
    except orjson.JSONDecodeError:
        pass
    detail = detail if isinstance(detail, dict) else {}
    message = str(detail.get("message") or body[:500].decode(errors="replace") or f"HTTP {status}")
    if status == 400 and any(phrase in message.lower() for phrase in _TOO_LONG):
        err: UpstreamError = ContextWindowExceeded(message, param="messages", provider=provider, upstream_status=status)
    else:
        err = upstream_error_for_status(status, f"{provider}: {message}", provider=provider, deployment=deployment)
        if isinstance(err, UpstreamRejected) and isinstance(detail.get("status"), str):
            err.code = detail["status"].lower()
    err = keep_rate_limit(err, headers)
    if err.retry_after is None and (delay := _retry_delay(detail.get("details"))) is not None:
        err.retry_after = delay
        err.headers = {**err.headers, "retry-after": str(math.ceil(delay))}  # for the client, as a header would be
    return err


def _retry_delay(details: Any) -> float | None:
    for item in details if isinstance(details, list) else ():
        if isinstance(item, dict) and item.get("@type") == _RETRY_INFO:
            delay = str(item.get("retryDelay") or "")
            try:
                return max(0.0, float(delay.removesuffix("s")))
            except ValueError:
                return None
    return None
