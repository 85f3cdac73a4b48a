"""What console routes depend on: `SignedIn` (the session's principal) and `Form` (the posted form, CSRF checked).

    @router.post("/things")
    async def create_thing(p: SignedIn, form: Form, identity: IdentityDep, request: Request) -> Response:
        ...  # call the same service the admin API calls, with `p`; it enforces the role rules

`SignedIn` on a GET without a session redirects to the sign-in page (and back afterwards); on any other method
it answers 401. `Form` answers 403 `csrf_failed` unless the form's `csrf_token` field (or an `X-CSRF-Token`
header, for scripts: a JSON POST is not parsed as a form, the route reads its body) matches the session's token;
every state-changing route takes it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from oneflow_ai.api.deps import identity
from oneflow_ai.auth.principal import Principal
from oneflow_ai.console import csrf
from oneflow_ai.console.forms import URLENCODED, FormData, read_form
from oneflow_ai.console.session import COOKIE, principal_of
from oneflow_ai.errors import PermissionDenied


class SignInRequired(Exception):
    """No open session: the handler redirects a GET to the sign-in page, answers 401 otherwise."""

    def __init__(self, back_to: str) -> None:
        super().__init__("Sign in first.")
        self.back_to = back_to


class CsrfFailed(PermissionDenied):
    def __init__(self) -> None:
        super().__init__(
            "This form has expired or did not come from this console: reload the page and try again.",
            code="csrf_failed",
        )


async def signed_in(request: Request) -> Principal:
    token = request.cookies.get(COOKIE)
    principal = await principal_of((await identity(request)).engine, token) if token else None
    if principal is None or token is None:
        back_to = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(back_to)
    request.state.console_principal = principal
    request.state.console_session = token
    request.state.console_csrf = csrf.token_for(token)
    return principal


async def checked_form(request: Request, _: Annotated[Principal, Depends(signed_in)]) -> FormData:
    """A posted form's fields; a script's POST of another type (JSON) carries the token in `X-CSRF-Token`, gets
    an empty `FormData` here and reads its body itself (`await request.json()`)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    form = await read_form(request) if kind in (URLENCODED, "") else FormData(())
    presented = form.get(csrf.FIELD) or request.headers.get(csrf.HEADER)
    if not csrf.valid(request.state.console_session, presented):
        raise CsrfFailed()
    return form


SignedIn = Annotated[Principal, Depends(signed_in)]
Form = Annotated[FormData, Depends(checked_form)]
