"""Signing in with single sign-on (OpenID Connect, `oneflow_ai.sso`): `GET /ui/sso/login` sends the browser to the
identity provider; `GET /ui/sso/callback` finishes: the provider's answer is checked, the user created or brought
in line with the claim rules, a console session opened, and the browser sent on to the console.

Any refusal (a failed check, no matching rule, a disabled account) is a page saying why, with the status of the
error (401 for a failed check, 403 for a refusal), and the pending sign-in's cookie is cleared. Without `sso:` in
the config both routes answer 404.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from oneflow_ai.api.deps import IdentityDep
from oneflow_ai.api.identity_routes import source_ip
from oneflow_ai.console.page import Page
from oneflow_ai.console.pages.sign_in import safe_next
from oneflow_ai.console.render import render
from oneflow_ai.console.session import open_session, over_tls, set_cookie
from oneflow_ai.errors import GatewayError, NotFound
from oneflow_ai.sso.pending import COOKIE, COOKIE_PATH, TTL_S
from oneflow_ai.sso.service import SingleSignOn

router = APIRouter()
PAGE = Page(router=router)


def sso_of(request: Request) -> SingleSignOn:
    sso: SingleSignOn | None = getattr(request.state, "sso", None)
    if sso is None:
        raise NotFound("Single sign-on is not configured on this gateway.", code="sso_not_configured")
    return sso


@router.get("/sso/login")
async def sso_login(request: Request, identity: IdentityDep, next: str | None = None) -> Response:
    sso = sso_of(request)
    url, cookie = await sso.begin(identity.tokens.keyring.fresh(), time.time(), safe_next(next))
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        COOKIE, cookie, max_age=TTL_S, path=COOKIE_PATH, secure=over_tls(request), httponly=True, samesite="lax"
    )
    return response


@router.get("/sso/callback")
async def sso_callback(request: Request, identity: IdentityDep) -> Response:
    sso = sso_of(request)
    ip = source_ip(request)
    try:
        account, next_url = await sso.complete(
            request.cookies.get(COOKIE),
            dict(request.query_params),
            identity.tokens.keyring.fresh(),
            time.time(),
            ip,
        )
        token = await open_session(identity, account.user_id, ip, method="sso")
    except GatewayError as e:
        response: Response = render(request, "error.html", {"status": e.status, "message": e.message}, status=e.status)
    else:
        response = RedirectResponse(safe_next(next_url), status_code=303)
        set_cookie(response, request, token, identity.settings.refresh_ttl_s)
    response.delete_cookie(COOKIE, path=COOKIE_PATH, secure=over_tls(request), httponly=True, samesite="lax")
    return response
