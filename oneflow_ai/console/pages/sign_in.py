"""Signing in with a user account (e-mail and password) and signing out.

The password goes through the admin API's login service, so its per-account lock-out, per-address throttle
and audit records apply here too; a refusal is shown on the form with the service's message and status. The
sign-in form is protected from login CSRF by a pre-session double-submit cookie (`csrf`). The master key does
not sign in to the console: it is for machines; use it to create the first owner (README).
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from oneflow_ai.api.deps import IdentityDep
from oneflow_ai.api.identity_routes import source_ip
from oneflow_ai.console import csrf
from oneflow_ai.console.deps import CsrfFailed, Form
from oneflow_ai.console.forms import read_form
from oneflow_ai.console.page import Page
from oneflow_ai.console.render import render
from oneflow_ai.console.session import (
    COOKIE,
    PATH,
    clear_cookie,
    end_session,
    over_tls,
    principal_of,
    set_cookie,
    sign_in,
)
from oneflow_ai.errors import GatewayError

router = APIRouter()
PAGE = Page(router=router)
PRE_PATH = PATH + "/login"


def safe_next(value: str | None) -> str:
    """Only a console path: never another site (`//evil`, `/\\evil`, `https:`)."""
    if value and value.startswith("/ui/") and not value.startswith(("//", "/\\")) and "\\" not in value:
        return value
    return "/ui/"


def _form(request: Request, next_url: str, *, error: str | None = None, email: str = "", status: int = 200) -> Response:
    pre = request.cookies.get(csrf.PRE_COOKIE) or csrf.new_pre_secret()
    request.state.console_csrf = csrf.token_for(pre)
    sso = getattr(request.state, "sso", None)  # `sso:` configured: a "Sign in with <label>" link (`pages.sso`)
    context = {"error": error, "email": email, "next": next_url, "sso_label": sso.settings.label if sso else None}
    response = render(request, "login.html", context, status=status)
    response.set_cookie(csrf.PRE_COOKIE, pre, path=PRE_PATH, secure=over_tls(request), httponly=True, samesite="strict")
    return response


@router.get("/login")
async def login_page(request: Request, identity: IdentityDep, next: str | None = None) -> Response:
    token = request.cookies.get(COOKIE)
    if token and await principal_of(identity.engine, token) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _form(request, safe_next(next))


@router.post("/login")
async def login(request: Request, identity: IdentityDep) -> Response:
    form = await read_form(request)
    if not csrf.valid(request.cookies.get(csrf.PRE_COOKIE), form.get(csrf.FIELD)):
        raise CsrfFailed()
    email, next_url = form.get("email").strip(), safe_next(form.get("next"))
    try:
        token = await sign_in(identity, email, form.get("password"), source_ip(request))
    except ValidationError:
        return _form(request, next_url, error="Enter your e-mail address and password.", email=email, status=400)
    except GatewayError as e:
        response = _form(request, next_url, error=e.message, email=email, status=e.status)
        for name, value in e.headers.items():
            response.headers[name] = value
        return response
    response = RedirectResponse(next_url, status_code=303)
    set_cookie(response, request, token, identity.settings.refresh_ttl_s)
    response.delete_cookie(csrf.PRE_COOKIE, path=PRE_PATH, secure=over_tls(request), httponly=True, samesite="strict")
    return response


@router.post("/logout")
async def logout(request: Request, form: Form, identity: IdentityDep) -> Response:
    await end_session(identity, request.state.console_principal, source_ip(request))
    response = RedirectResponse("/ui/login?next=" + quote("/ui/", safe="/"), status_code=303)
    clear_cookie(response, request)
    return response
