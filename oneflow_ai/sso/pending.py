"""The sign-in in progress, kept in the browser between `/ui/sso/login` and `/ui/sso/callback`: a short-lived
cookie holding the `state`, `nonce` and PKCE `code_verifier`, signed (HS256) with the gateway's JWT keyring under
its own audience, so it can be neither forged nor taken for an access token (nor one for it). Every worker and
replica sharing the keyring reads it: no server-side store.

The cookie is `HttpOnly`, `SameSite=Lax` (the provider's redirect back is a top-level GET from another site:
`Strict` would withhold it), scoped to `/ui/sso`, `Secure` when the gateway is reached over TLS, and spent by the
callback (cleared whatever its outcome).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oneflow_ai.errors import SignOnFailed
from oneflow_ai.identity.signing import ALGORITHM, Keyring

COOKIE = "oneflow_sso"
COOKIE_PATH = "/ui/sso"
TTL_S = 600
AUDIENCE = "oneflow-sso-pending"


@dataclass(frozen=True, slots=True)
class Pending:
    """What one browser's sign-in must present again at the callback."""

    state: str
    nonce: str
    code_verifier: str
    next: str = "/ui/"
    """The console page to open once signed in."""


def _expired() -> SignOnFailed:
    return SignOnFailed(
        "This sign-in was not started in this browser, or took longer than 10 minutes; start again from the sign-in "
        "page.",
        code="sso_state_mismatch",
    )


def seal(pending: Pending, keyring: Keyring, now: float) -> str:
    import jwt  # PyJWT loads cryptography's bindings: only when a sign-in needs them (as `identity.signing`)

    key = keyring.keys[0]
    claims = {
        "aud": AUDIENCE,
        "exp": int(now) + TTL_S,
        "state": pending.state,
        "nonce": pending.nonce,
        "cv": pending.code_verifier,
        "next": pending.next,
    }
    return jwt.encode(claims, key.secret, algorithm=ALGORITHM, headers={"kid": key.kid})


def unseal(cookie: str | None, keyring: Keyring, now: float) -> Pending:
    """The pending sign-in a cookie holds; `SignOnFailed` when it is missing, forged or expired."""
    import jwt

    if not cookie:
        raise _expired()
    try:
        kid = jwt.get_unverified_header(cookie).get("kid")
    except jwt.InvalidTokenError:
        raise _expired() from None
    key = keyring.verifying(kid, now, TTL_S) if isinstance(kid, str) else None
    if key is None:
        raise _expired()
    try:
        claims: dict[str, Any] = jwt.decode(
            cookie,
            key.secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={"require": ["exp", "state", "nonce", "cv"]},
        )
    except jwt.InvalidTokenError:
        raise _expired() from None
    return Pending(
        state=str(claims["state"]),
        nonce=str(claims["nonce"]),
        code_verifier=str(claims["cv"]),
        next=str(claims.get("next") or "/ui/"),
    )
