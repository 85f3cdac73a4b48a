"""CSRF tokens: each state-changing form carries one, checked on every POST.

A signed-in form's token is an HMAC of a fixed label keyed by the session's cookie value: a page of another
site can neither read the cookie (`HttpOnly`) nor the token (same-origin policy), so it cannot forge it, and
the token dies with the session. The sign-in form has no session yet: it gets a random pre-session cookie
(`PRE_COOKIE`) and its token is the same HMAC keyed by that (a double submit), so nobody can sign a browser in
as someone else (login CSRF).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PRE_COOKIE = "oneflow_console_pre"
FIELD = "csrf_token"
HEADER = "x-csrf-token"
LABEL = b"oneflow-console-csrf-v1"


def token_for(secret: str) -> str:
    digest = hmac.new(secret.encode(), LABEL, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def valid(secret: str | None, presented: str | None) -> bool:
    if not secret or not presented:
        return False
    return hmac.compare_digest(token_for(secret).encode(), presented.encode())


def new_pre_secret() -> str:
    return secrets.token_urlsafe(32)
