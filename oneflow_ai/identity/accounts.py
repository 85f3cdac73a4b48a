"""Users signing up, logging in, refreshing and logging out; and who a JWT on the admin API belongs to.

Failed logins count per account: after 5 in a row each further one makes the account wait (1, 2, 4, … s),
after 10 it is locked for 15 minutes (`passwords.Lockout`); a locked account is refused before its password is
even checked, with 429 and `Retry-After`. An attempt is counted (and the lock it would earn set) before its
password is checked, so concurrent guesses cannot outrun the count. Attempts per client address are throttled
too (`login_throttle`). An unknown e-mail costs the same argon2 time as a wrong password.

A disabled or deleted user cannot log in, and a refresh re-reads the user, so neither can they refresh; disabling,
deleting or changing the role of a user (`directory`) revokes every session of theirs, which ends their access
tokens at once (`principal` checks the session on every call).
"""

from __future__ import annotations

import math
import time
from datetime import datetime

from sqlalchemy import RowMapping, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from oneflow_ai.auth.principal import Principal
from oneflow_ai.errors import AuthenticationFailed, GatewayError, InvalidRequest, PermissionDenied, RateLimited
from oneflow_ai.identity import audit
from oneflow_ai.identity.audit import Actor
from oneflow_ai.identity.bounds import check_may_manage_users
from oneflow_ai.identity.credentials import new_id
from oneflow_ai.identity.directory import department_in, tenant_exists, user_public
from oneflow_ai.identity.limiter import LocalLimiter
from oneflow_ai.identity.login_throttle import LoginThrottle
from oneflow_ai.identity.passwords import Lockout, Passwords, check_policy
from oneflow_ai.identity.roles import Can, may_grant, require, target_tenant
from oneflow_ai.identity.schemas import Login, Register, TokenPair, UserPublic
from oneflow_ai.identity.sessions import ReusedRefreshToken, Sessions
from oneflow_ai.identity.signing import AccessTokens
from oneflow_ai.identity.tables import DEFAULT_TENANT, now_utc, sessions, tenants, users

BAD_LOGIN = "Incorrect e-mail or password."
MAX_RESERVE_TRIES = 50
"""Compare-and-set rounds before a login gives up (each lost round means another attempt was counted)."""


class Accounts:
    def __init__(
        self,
        engine: AsyncEngine,
        passwords: Passwords,
        sessions: Sessions,
        tokens: AccessTokens,
        *,
        open_signup: bool,
        lockout: Lockout | None = None,
        throttle: LoginThrottle | None = None,
    ) -> None:
        self._engine = engine
        self._passwords = passwords
        self._sessions = sessions
        self._tokens = tokens
        self._open_signup = open_signup
        self._lockout = lockout or Lockout()
        self._throttle = throttle or LoginThrottle(LocalLimiter(), None)

    async def register(self, body: Register, actor: Actor) -> UserPublic:
        """Anonymous sign-up (when open) founds a new tenant with its owner; an admin adds a user to a tenant."""
        caller = actor.principal
        if caller is None:
            if not self._open_signup:
                raise PermissionDenied(
                    "Sign-up is closed: ask an administrator of this gateway to register you (whoever runs it can "
                    "open sign-up with ONEFLOW_SIGNUP=open).",
                    code="signup_closed",
                )
            if body.role or body.tenant_id or body.department_id:
                raise InvalidRequest("Self sign-up cannot choose a role, tenant or department.")
            tenant_id, role = new_id("ten"), "owner"
        else:
            require(caller, Can.MANAGE_TENANT)
            tenant_id, role = target_tenant(caller, body.tenant_id, DEFAULT_TENANT), body.role or "member"
            may_grant(caller, role)
        check_policy(body.password, body.email)
        password_hash = await self._passwords.hash(body.password)
        now, user_id = now_utc(), new_id("usr")
        try:
            async with self._engine.begin() as conn:
                if caller is None:
                    await conn.execute(insert(tenants).values(id=tenant_id, name=body.name, created_at=now))
                else:
                    await tenant_exists(conn, tenant_id)
                    await check_may_manage_users(conn, caller)
                if body.department_id is not None:
                    await department_in(conn, body.department_id, tenant_id)
                await conn.execute(
                    insert(users).values(
                        id=user_id,
                        email=body.email,
                        name=body.name,
                        password_hash=password_hash,
                        role=role,
                        tenant_id=tenant_id,
                        department_id=body.department_id,
                        failed_logins=0,
                        created_at=now,
                    )
                )
                await audit.record(
                    conn,
                    actor,
                    "user.register",
                    tenant_id=tenant_id,
                    target_type="user",
                    target_id=user_id,
                    detail={"role": role},
                )
                row = (await conn.execute(select(users).where(users.c.id == user_id))).mappings().one()
        except IntegrityError:
            raise GatewayError(
                "A user with this e-mail address already exists.", status=409, code="email_taken"
            ) from None
        return user_public(row)

    async def login(self, body: Login, source_ip: str | None) -> TokenPair:
        attempt = await self._throttle.take(source_ip)
        now = now_utc()
        query = select(users).where(users.c.email == body.email.lower(), users.c.deleted_at.is_(None))
        async with self._engine.connect() as conn:
            user = (await conn.execute(query)).mappings().first()
        if user is None:
            await self._passwords.verify(None, body.password)
            raise AuthenticationFailed(BAD_LOGIN, code="invalid_credentials")
        actor = Actor(Principal(key_id="login", user_id=user["id"], tenant_id=user["tenant_id"]), source_ip)
        failures = await self._reserve(user, now)
        if not await self._passwords.verify(user["password_hash"], body.password):
            async with self._engine.begin() as conn:
                await self._extend_lock(conn, user["id"], failures)
                await audit.record(
                    conn,
                    actor,
                    "auth.login_failed",
                    tenant_id=user["tenant_id"],
                    target_type="user",
                    target_id=user["id"],
                    detail={"failures": failures},
                )
            raise AuthenticationFailed(BAD_LOGIN, code="invalid_credentials")
        if user["disabled_at"] is not None:  # told only to whoever knows the password
            raise PermissionDenied("This user has been disabled by an administrator.", code="user_disabled")
        async with self._engine.begin() as conn:
            await conn.execute(update(users).where(users.c.id == user["id"]).values(failed_logins=0, locked_until=None))
            session_id, refresh = await self._sessions.open(conn, user["id"], now)
            await audit.record(
                conn, actor, "auth.login", tenant_id=user["tenant_id"], target_type="session", target_id=session_id
            )
        self._throttle.give_back(attempt)
        return self._pair(user["id"], session_id, refresh)

    async def _reserve(self, user: RowMapping, now: datetime) -> int:
        """Count this attempt as a failure before its password is checked (a success clears the count), and the
        lock it would earn with it: however many attempts run at once, no more are checked than the lock-out
        allows. A compare-and-set on the count, so it holds across workers and replicas sharing the database."""
        failures, locked_until = user["failed_logins"], user["locked_until"]
        for _ in range(MAX_RESERVE_TRIES):
            if locked_until is not None and locked_until > now:
                wait = math.ceil((locked_until - now).total_seconds())
                raise RateLimited(
                    f"Too many failed logins; try again in {wait}s.",
                    code="login_locked",
                    headers={"retry-after": str(max(1, wait))},
                )
            reserved = failures + 1
            async with self._engine.begin() as conn:
                done = await conn.execute(
                    update(users)
                    .where(users.c.id == user["id"], users.c.failed_logins == failures)
                    .values(failed_logins=reserved, locked_until=self._lockout.locked_until(reserved, now))
                )
                if done.rowcount == 1:
                    return int(reserved)
                row = (
                    await conn.execute(
                        select(users.c.failed_logins, users.c.locked_until).where(users.c.id == user["id"])
                    )
                ).one()
            failures, locked_until = row.failed_logins, row.locked_until
        raise RateLimited(
            "Too many logins at once; try again in 1s.", code="login_locked", headers={"retry-after": "1"}
        )

    async def _extend_lock(self, conn: AsyncConnection, user_id: str, failures: int) -> None:
        """The wait a failure earns counts from the failure, not from its reservation (hashing may be slow); only
        a lock still there is extended: a success since then has cleared it."""
        until = self._lockout.locked_until(failures, now_utc())
        if until is not None:
            await conn.execute(
                update(users)
                .where(users.c.id == user_id, users.c.locked_until.is_not(None), users.c.locked_until < until)
                .values(locked_until=until)
            )

    async def refresh(self, token: str, source_ip: str | None) -> TokenPair:
        try:
            rotated = await self._sessions.rotate(token, now_utc())
        except ReusedRefreshToken as e:
            async with self._engine.begin() as conn:
                tenant = (await conn.execute(select(users.c.tenant_id).where(users.c.id == e.user_id))).scalar()
                await audit.record(
                    conn,
                    Actor(None, source_ip),
                    "auth.refresh_reused",
                    tenant_id=tenant,
                    target_type="session",
                    target_id=e.session_id,
                )
            raise
        return self._pair(rotated.user_id, rotated.session_id, rotated.refresh_token)

    async def logout(self, caller: Principal, refresh_token: str | None, actor: Actor) -> None:
        """End the caller's own session (a JWT's), or the one `refresh_token` belongs to."""
        session_id = _session_of(caller)
        if refresh_token is not None:
            found = await self._sessions.session_of(refresh_token)
            if found is None or found[1] != caller.user_id:
                raise PermissionDenied("That refresh token is not yours.")
            session_id = found[0]
        if session_id is None:
            raise InvalidRequest("Log out with your access token, or send the refresh_token to end.")
        async with self._engine.begin() as conn:
            await self._sessions.revoke(session_id, "logout", now_utc(), conn)
            await audit.record(
                conn, actor, "auth.logout", tenant_id=caller.tenant_id, target_type="session", target_id=session_id
            )

    async def principal(self, token: str) -> Principal:
        """The user a JWT names, as they are now (role, tenant), provided its session is still open."""
        claims = self._tokens.verify(token, time.time())
        query = (
            select(users.c.id, users.c.tenant_id, users.c.department_id, users.c.role, sessions.c.revoked_at)
            .select_from(users.join(sessions, sessions.c.user_id == users.c.id))
            .where(
                users.c.id == claims.user_id,
                sessions.c.id == claims.session_id,
                users.c.disabled_at.is_(None),
                users.c.deleted_at.is_(None),
            )
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None or row["revoked_at"] is not None:
            raise AuthenticationFailed("The access token is invalid or has expired.", code="invalid_token")
        return Principal(
            key_id=f"session:{claims.session_id}",
            user_id=row["id"],
            tenant_id=row["tenant_id"],
            department_id=row["department_id"],
            role=row["role"],
        )

    def _pair(self, user_id: str, session_id: str, refresh: str) -> TokenPair:
        access = self._tokens.issue(user_id, session_id, time.time())
        return TokenPair(access_token=access, refresh_token=refresh, expires_in=self._tokens.ttl_s)


def _session_of(p: Principal) -> str | None:
    return p.key_id.removeprefix("session:") if p.key_id.startswith("session:") else None
