"""The browser's session: a cookie holding a session secret, backed by the `sessions` table.

Signing in opens a row in `sessions` exactly like a login to the admin API does (`identity.accounts`), with the
same lock-out, throttle and audit records; the cookie holds that session's refresh token, which the console
never spends (the database keeps only its SHA-256). Every console request looks it up again: the session
must be open (not logged out, not revoked by disabling, deleting or re-roling the user), its token unspent and
unexpired, and its user active. So signing out, or an admin disabling the user, ends the console session at
once. If the token is spent at `/api/v1/admin/auth/refresh`, the console session ends too.

The cookie is `HttpOnly`, `SameSite=Lax`, `Path=/ui`, and `Secure` when the request came over TLS (the scheme
uvicorn reports: `X-Forwarded-Proto` counts only from `ONEFLOW_TRUSTED_PROXIES`).

`open_session(identity, user_id, source_ip, method=...)` is what another sign-in flow (single sign-on) calls
once it knows the user: it returns the cookie value; `set_cookie` puts it on the response.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response

from oneflow_ai.auth.principal import Principal
from oneflow_ai.errors import PermissionDenied
from oneflow_ai.identity import audit
from oneflow_ai.identity.audit import Actor
from oneflow_ai.identity.credentials import secret_hash
from oneflow_ai.identity.schemas import Login
from oneflow_ai.identity.service import Identity
from oneflow_ai.identity.tables import now_utc, refresh_tokens, sessions, users

COOKIE = "oneflow_console"
PATH = "/ui"
MAX_COOKIE_CHARS = 128


async def sign_in(identity: Identity, email: str, password: str, source_ip: str | None) -> str:
    """Check the password through the login service (lock-out, throttle, audit): the new session's cookie value.
    Raises what the login raises (401 wrong password, 429 locked or throttled, 403 disabled)."""
    pair = await identity.accounts.login(Login(email=email, password=password), source_ip)
    return pair.refresh_token


async def open_session(identity: Identity, user_id: str, source_ip: str | None, *, method: str) -> str:
    """A session for a user another flow has authenticated (`method`, e.g. "sso", is written in the audit
    record): the cookie value. A disabled or deleted user gets 403."""
    now = now_utc()
    async with identity.engine.begin() as conn:
        row = (
            await conn.execute(
                select(users.c.tenant_id, users.c.disabled_at, users.c.deleted_at).where(users.c.id == user_id)
            )
        ).first()
        if row is None or row.disabled_at is not None or row.deleted_at is not None:
            raise PermissionDenied("This user has been disabled by an administrator.", code="user_disabled")
        session_id, token = await identity.sessions.open(conn, user_id, now)
        actor = Actor(Principal(key_id=method, user_id=user_id, tenant_id=row.tenant_id), source_ip)
        await audit.record(
            conn,
            actor,
            "auth.login",
            tenant_id=row.tenant_id,
            target_type="session",
            target_id=session_id,
            detail={"method": method},
        )
    return token


async def principal_of(engine: AsyncEngine, token: str) -> Principal | None:
    """Who holds this cookie value, if it names an open session of an active user."""
    if not token.startswith("rt_") or len(token) > MAX_COOKIE_CHARS:
        return None
    query = (
        select(
            sessions.c.id.label("session_id"),
            users.c.id,
            users.c.tenant_id,
            users.c.department_id,
            users.c.role,
        )
        .select_from(
            refresh_tokens.join(sessions, sessions.c.id == refresh_tokens.c.session_id).join(
                users, users.c.id == sessions.c.user_id
            )
        )
        .where(
            refresh_tokens.c.token_hash == secret_hash(token),
            refresh_tokens.c.used_at.is_(None),
            refresh_tokens.c.expires_at > now_utc(),
            sessions.c.revoked_at.is_(None),
            users.c.disabled_at.is_(None),
            users.c.deleted_at.is_(None),
        )
    )
    async with engine.connect() as conn:
        row = (await conn.execute(query)).mappings().first()
    if row is None:
        return None
    return Principal(
        key_id=f"session:{row['session_id']}",
        user_id=row["id"],
        tenant_id=row["tenant_id"],
        department_id=row["department_id"],
        role=row["role"],
    )


async def end_session(identity: Identity, principal: Principal, source_ip: str | None) -> None:
    """Sign out: the session is revoked (its cookie and any access token of the session stop working)."""
    await identity.accounts.logout(principal, None, Actor(principal, source_ip))


def over_tls(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(response: Response, request: Request, token: str, max_age_s: int) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=max_age_s,
        path=PATH,
        secure=over_tls(request),
        httponly=True,
        samesite="lax",
    )


def clear_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE, path=PATH, secure=over_tls(request), httponly=True, samesite="lax")
