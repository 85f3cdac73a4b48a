"""Liveness, readiness, and the API documentation served from packaged assets (no CDN)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import fastapi_offline
import orjson
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

from oneflow_ai.api.responses import JSONBytes
from oneflow_ai.gateway.runtime import Gateway
from oneflow_ai.store.db import ping
from oneflow_ai.store.redis_replies import reply

DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"
READY_TIMEOUT_S = 2.0

router = APIRouter(tags=["Operations"])


@router.get("/health", summary="Liveness: the process answers")
async def health() -> Response:
    return JSONBytes(b'{"status":"ok"}')


@router.get("/ready", summary="Readiness: the database answers and the ledger writes; when configured, Redis answers")
async def ready(request: Request) -> Response:
    gw: Gateway = request.state.gateway
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(ping(gw.engine), READY_TIMEOUT_S)
        checks["database"] = "ok"
    except Exception as e:  # readiness reports the failure instead of raising it
        checks["database"] = f"error: {type(e).__name__}"
    unwritable = gw.ledger.unwritable  # the last write failed (none has succeeded since)
    checks["ledger"] = "ok" if unwritable is None else f"error: {unwritable.split(':', 1)[0]}"
    if gw.redis is not None:
        try:
            await asyncio.wait_for(reply(gw.redis.ping()), READY_TIMEOUT_S)
            checks["redis"] = "ok"
        except Exception as e:
            checks["redis"] = f"error: {type(e).__name__}"
    ok = all(v == "ok" for v in checks.values())
    body = {"status": "ready" if ok else "not_ready", "checks": checks}
    return JSONBytes(orjson.dumps(body), status_code=200 if ok else 503)


docs_router = APIRouter(include_in_schema=False)


@docs_router.get("/docs")
async def swagger() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="OneFlow API",
        swagger_js_url="/_docs/swagger-ui-bundle.js",
        swagger_css_url="/_docs/swagger-ui.css",
        swagger_favicon_url="/_docs/favicon.png",
    )


@docs_router.get("/redoc")
async def redoc() -> HTMLResponse:
    return get_redoc_html(
        openapi_url="/openapi.json",
        title="OneFlow API",
        redoc_js_url="/_docs/redoc.standalone.js",
        redoc_favicon_url="/_docs/favicon.png",
        with_google_fonts=False,
    )


docs_assets = StaticFiles(directory=DOCS_ASSETS)
