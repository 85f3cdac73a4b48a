"""`build_console()`: the console's sub-application, which `create_app` mounts at `/ui`.

It reads the gateway's services from the request state the gateway's lifespan fills (`request.state.identity`,
`.gateway`, ...), exactly like the API routes do. Errors render as an HTML page with the message (the same
messages as the API's), never a stack trace: a `GatewayError` with its status, an unexpected one as 500 with the
request id to look for in the log.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from oneflow_ai.console.deps import SignInRequired, signed_in
from oneflow_ai.console.page import Page
from oneflow_ai.console.render import environment, nav, render
from oneflow_ai.errors import GatewayError

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("oneflow")


def build_console(pages: tuple[Page, ...] | None = None) -> FastAPI:
    if pages is None:
        from oneflow_ai.console.pages import PAGES

        pages = PAGES
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.console_templates = environment()
    app.state.console_pages = pages
    app.mount("/static", StaticFiles(directory=STATIC), name="console-static")

    @app.get("/", include_in_schema=False)
    async def home(request: Request) -> Response:
        """The first page the user may see, in navigation order."""
        principal = await signed_in(request)
        entries = nav(pages, principal, request.url.path)
        return RedirectResponse(entries[0].href if entries else "/ui/keys", status_code=303)

    for page in pages:
        app.include_router(page.router)
    _install_error_pages(app)
    return app


def _install_error_pages(app: FastAPI) -> None:
    async def gateway_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, GatewayError)
        return _error_page(request, exc.status, exc.message, exc.headers)

    async def sign_in_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        if request.method in ("GET", "HEAD"):
            return RedirectResponse("/ui/login?next=" + quote(exc.back_to, safe="/"), status_code=303)
        return _error_page(request, 401, "Your session has ended: sign in again.")

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        text = {404: "There is no such page.", 405: "This page does not accept that method."}
        return _error_page(request, exc.status_code, text.get(exc.status_code, str(exc.detail)))

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:])
        return _error_page(request, 400, f"Invalid input{f' ({where})' if where else ''}: {first.get('msg', '')}")

    async def unexpected(request: Request, exc: Exception) -> Response:
        request_id = getattr(request.state, "request_id", None)
        log.exception("console page failed", extra={"request_id": request_id})
        return _error_page(request, 500, f"Something went wrong on our side (request id {request_id}).")

    app.add_exception_handler(GatewayError, gateway_error)
    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected)


def _error_page(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    response = render(request, "error.html", {"status": status, "message": message}, status=status)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
