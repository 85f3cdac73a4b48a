"""Login sessions and their rotating refresh tokens.

A login opens a session (the token *family*) and hands out one refresh token, stored only as its SHA-256. Each
refresh spends the token and hands out the next one of the same family. Presenting a token that was already
spent means two parties hold the family (one of them stole it): the whole session is revoked, so the thief's
copy and the victim's both stop working and the user must log in again. Logout revokes the session too; access
tokens name their session (`sid`), so they stop at once as well. Disabling, deleting or changing the role of a
user revokes all their sessions (`revoke_user`), and a refresh re-reads the user: a disabled or deleted one is
refused even with an unspent token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from oneflow_ai.errors import AuthenticationFailed
from oneflow_ai.identity.credentials import new_id, new_refresh_token, secret_hash
from oneflow_ai.identity.tables import refresh_tokens, sessions, users


@dataclass(frozen=True, slots=True)
class Rotated:
    user_id: str
    session_id: str
    refresh_token: str


class ReusedRefreshToken(AuthenticationFailed):
    """A spent refresh token came back: its session has been revoked."""

    def __init__(self, user_id: str, session_id: str) -> None:
        super().__init__(
            "This refresh token was already used; the session has been ended for safety.", code="invalid_refresh_token"
        )
        self.user_id = user_id
        self.session_id = session_id


class Sessions:
    def __init__(self, engine: AsyncEngine, refresh_ttl_s: int) -> None:
        self._engine = engine
        self._ttl = timedelta(seconds=refresh_ttl_s)

    async def open(self, conn: AsyncConnection, user_id: str, now: datetime) -> tuple[str, str]:
        """(session id, first refresh token), inside the caller's transaction."""
        session_id = new_id("ses")
        await conn.execute(insert(sessions).values(id=session_id, user_id=user_id, created_at=now))
        return session_id, await self._issue(conn, session_id, now)

    async def rotate(self, token: str, now: datetime) -> Rotated:
        invalid = AuthenticationFailed("The refresh token is invalid or has expired.", code="invalid_refresh_token")
        token_hash = secret_hash(token)
        query = (
            select(
                refresh_tokens.c.session_id,
                refresh_tokens.c.expires_at,
                refresh_tokens.c.used_at,
                sessions.c.user_id,
                sessions.c.revoked_at,
                users.c.disabled_at,
                users.c.deleted_at,
            )
            .select_from(
                refresh_tokens.join(sessions, sessions.c.id == refresh_tokens.c.session_id).join(
                    users, users.c.id == sessions.c.user_id
                )
            )
            .where(refresh_tokens.c.token_hash == token_hash)
        )
        async with self._engine.begin() as conn:
            row = (await conn.execute(query)).mappings().first()
            if row is None or row["revoked_at"] is not None:
                raise invalid
            if row["disabled_at"] is not None or row["deleted_at"] is not None:
                raise invalid  # their sessions were revoked with the change; this holds even if that one raced
            if row["used_at"] is None and row["expires_at"] > now:
                spent = await conn.execute(
                    update(refresh_tokens)
                    .where(refresh_tokens.c.token_hash == token_hash, refresh_tokens.c.used_at.is_(None))
                    .values(used_at=now)
                )
                if spent.rowcount == 1:
                    return Rotated(row["user_id"], row["session_id"], await self._issue(conn, row["session_id"], now))
            elif row["used_at"] is None:
                raise invalid  # expired, never used
        # Spent before (or by a concurrent request just now): the family is compromised.
        await self.revoke(row["session_id"], "reuse", now)
        raise ReusedRefreshToken(row["user_id"], row["session_id"])

    async def revoke(self, session_id: str, reason: str, now: datetime, conn: AsyncConnection | None = None) -> None:
        statement = (
            update(sessions)
            .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
        )
        if conn is not None:
            await conn.execute(statement)
            return
        async with self._engine.begin() as own:
            await own.execute(statement)

    async def revoke_user(self, conn: AsyncConnection, user_id: str, reason: str, now: datetime) -> int:
        """End every open session of `user_id` (inside the caller's transaction); how many there were."""
        done = await conn.execute(
            update(sessions)
            .where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
        )
        return int(done.rowcount)

    async def session_of(self, token: str) -> tuple[str, str] | None:
        """(session id, user id) of a refresh token, spent or not."""
        query = (
            select(refresh_tokens.c.session_id, sessions.c.user_id)
            .select_from(refresh_tokens.join(sessions, sessions.c.id == refresh_tokens.c.session_id))
            .where(refresh_tokens.c.token_hash == secret_hash(token))
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else (row[0], row[1])

    async def _issue(self, conn: AsyncConnection, session_id: str, now: datetime) -> str:
        token, token_hash = new_refresh_token()
        await conn.execute(
            insert(refresh_tokens).values(
                token_hash=token_hash,
                session_id=session_id,
                created_at=now,
                expires_at=now + self._ttl,
            )
        )
        return token
