"""Responses for the FastAPI routes: raw JSON bytes, and the OpenAI error JSON."""

from __future__ import annotations

import orjson
from starlette.responses import Response

from oneflow_ai.errors import GatewayError


class JSONBytes(Response):
    media_type = "application/json"


def error_response(error: GatewayError) -> JSONBytes:
    """The OpenAI error JSON. (The edge adds `x-request-id` to every response.)"""
    return JSONBytes(orjson.dumps(error.body()), status_code=error.status, headers=dict(error.headers))
