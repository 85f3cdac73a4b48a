"""Responses for the FastAPI routes: raw JSON bytes. (Errors: `api.wire.ErrorResponse`.)"""

from __future__ import annotations

from starlette.responses import Response


class JSONBytes(Response):
    media_type = "application/json"
