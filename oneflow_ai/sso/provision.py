"""A signed-in SSO user, as a OneFlow user: created on the first sign-in, brought in line on every later one.

The account is found by its SSO identity (`users.sso_issuer`, `users.sso_subject`: the provider's stable subject,
never the e-mail, which can change hands). Each sign-in applies the rules' grant again: a role the provider's
claims now earn replaces the stored one (the IdP decides); no grant refuses. A user is never moved to another
tenant by a sign-in (their keys and history stay where they are): a grant naming another tenant is refused, for
an administrator to resolve. A disabled or deleted account is refused. An e-mail already used by another account
(say, a password account) is refused rather than linked: linking on e-mail would let whoever controls that address
at the provider take the account.

An SSO account has no password: its `password_hash` is a marker no password verifies against. Sign-ins, refusals,
accounts created and roles changed are written to the audit log in the same transaction as the change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import RowMapping, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from oneflow_ai.errors import SignOnRefused
from oneflow_ai.identity import audit
from oneflow_ai.identity.audit import Actor
from oneflow_ai.identity.credentials import new_id
from oneflow_ai.identity.tables import now_utc, tenants, users
from oneflow_ai.sso.settings import Grant

NO_PASSWORD = "!sso"
"""`users.password_hash` of an SSO account: not an argon2 hash, so a password login always fails."""


@dataclass(frozen=True, slots=True)
class Account:
    user_id: str
    tenant_id: str
    role: str
    email: str
    created: bool


class Provisioner:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def sign_in(
        self,
        issuer: str,
        subject: str,
        grant: Grant | None,
        *,
        email: str | None,
        name: str,
        source_ip: str | None,
    ) -> Account:
        """The account of (`issuer`, `subject`), created or updated to `grant`; `SignOnRefused` (recorded in the
        audit log) when the user may not come in."""
        actor = Actor(None, source_ip)
        async with self._engine.begin() as conn:
            row = await _by_identity(conn, issuer, subject)
            refusal = await _refusal(conn, row, grant, email)
            if refusal is None:
                assert grant is not None
                account = await (
                    _created(conn, issuer, subject, grant, email, name, actor)
                    if row is None
                    else _updated(conn, row, grant, actor)
                )
                await audit.record(
                    conn,
                    actor,
                    "auth.sso_login",
                    tenant_id=account.tenant_id,
                    target_type="user",
                    target_id=account.user_id,
                    detail={"issuer": issuer, "role": account.role},
                )
                return account
        async with self._engine.begin() as conn:  # the refusal is recorded, the user's row left as it was
            await audit.record(
                conn,
                actor,
                "auth.sso_refused",
                tenant_id=row["tenant_id"] if row is not None else (grant.tenant if grant else None),
                target_type="user" if row is not None else None,
                target_id=row["id"] if row is not None else None,
                detail={"issuer": issuer, "subject": subject[:200], "reason": refusal.code},
            )
        raise refusal


async def _by_identity(conn: AsyncConnection, issuer: str, subject: str) -> RowMapping | None:
    query = select(users).where(users.c.sso_issuer == issuer, users.c.sso_subject == subject)
    return (await conn.execute(query)).mappings().first()


async def _refusal(
    conn: AsyncConnection, row: RowMapping | None, grant: Grant | None, email: str | None
) -> SignOnRefused | None:
    if grant is None:
        return SignOnRefused(
            "You signed in at the identity provider, but no rule of this gateway admits your account (its groups or "
            "e-mail domain). Ask an administrator of this gateway for access.",
            code="sso_no_matching_rule",
        )
    if row is not None:
        if row["deleted_at"] is not None or row["disabled_at"] is not None:
            return SignOnRefused("This account has been disabled by an administrator.", code="user_disabled")
        if row["tenant_id"] != grant.tenant:
            return SignOnRefused(
                f"Your account belongs to tenant {row['tenant_id']!r}, but the sign-on rules now place you in "
                f"{grant.tenant!r}; an administrator must move or remove the account first.",
                code="sso_tenant_changed",
            )
        return None
    if (await conn.execute(select(tenants.c.id).where(tenants.c.id == grant.tenant))).first() is None:
        return SignOnRefused(
            f"The sign-on rules place you in tenant {grant.tenant!r}, which does not exist on this gateway; an "
            "administrator must create it (or correct the rule).",
            code="sso_unknown_tenant",
        )
    if email is None:
        return SignOnRefused(
            "The identity provider sent no verified e-mail address for your account (is 'email' among the scopes?).",
            code="sso_no_email",
        )
    if (await conn.execute(select(users.c.id).where(users.c.email == email))).first() is not None:
        return SignOnRefused(
            "Another account of this gateway already uses your e-mail address; an administrator must remove it "
            "before you can sign in with single sign-on.",
            code="email_taken",
        )
    return None


async def _created(
    conn: AsyncConnection, issuer: str, subject: str, grant: Grant, email: str | None, name: str, actor: Actor
) -> Account:
    assert email is not None
    user_id = new_id("usr")
    try:
        async with conn.begin_nested():
            await conn.execute(
                insert(users).values(
                    id=user_id,
                    email=email,
                    name=name[:200] or email,
                    password_hash=NO_PASSWORD,
                    role=grant.role,
                    tenant_id=grant.tenant,
                    failed_logins=0,
                    created_at=now_utc(),
                    sso_issuer=issuer,
                    sso_subject=subject,
                )
            )
    except IntegrityError:  # the same user's other sign-in, a moment ago
        raise SignOnRefused("This account was being created by another sign-in; try again.", code="conflict") from None
    await audit.record(
        conn,
        actor,
        "user.sso_provision",
        tenant_id=grant.tenant,
        target_type="user",
        target_id=user_id,
        detail={"role": grant.role, "issuer": issuer},
    )
    return Account(user_id, grant.tenant, grant.role, email, created=True)


async def _updated(conn: AsyncConnection, row: RowMapping, grant: Grant, actor: Actor) -> Account:
    if row["role"] != grant.role:
        await conn.execute(update(users).where(users.c.id == row["id"]).values(role=grant.role))
        await audit.record(
            conn,
            actor,
            "user.sso_role_change",
            tenant_id=row["tenant_id"],
            target_type="user",
            target_id=row["id"],
            detail={"from": row["role"], "to": grant.role},
        )
    return Account(row["id"], row["tenant_id"], grant.role, row["email"], created=False)


async def missing_tenants(engine: AsyncEngine, named: list[str]) -> list[str]:
    """Those of `named` that are no tenant's id, in their order."""
    async with engine.connect() as conn:
        found = set((await conn.execute(select(tenants.c.id).where(tenants.c.id.in_(set(named))))).scalars())
    return [t for t in dict.fromkeys(named) if t not in found]


def display_name(claims: Mapping[str, Any], email: str | None) -> str:
    for field in ("name", "preferred_username", "given_name"):
        value = claims.get(field)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return email or "SSO user"
