"""What a caller may hand out: a key never grants more than the credential that makes or changes it holds.

A caller's `Bounds` are the restrictions of the credential it acts through. A virtual key has its own models,
rate limits, budget, department and expiry; if its user is a member (or viewer), the user's limits and
department bound it too. A member signed in by JWT is bound by their user's limits and department. The master
key and owners/admins signed in by JWT are unbounded (within their tenant, which `roles` keeps); an owner or
admin acting through a restricted key is bound by that key.

A key made or changed by a bounded caller must stay within: its models a subset of the caller's, each limit at
most the caller's (and set, where the caller's is set), the caller's budget, department and expiry (no later)
where the caller has them. A field left out of a new key takes the caller's bound instead of the default, so
"make me a key" by a restricted key gives a key like itself. A key changes nothing of itself but its name and
metadata. Roles are ranked separately (`roles.may_grant`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from oneflow_ai.auth.principal import Principal
from oneflow_ai.errors import PermissionDenied
from oneflow_ai.identity.roles import RANK, is_superuser
from oneflow_ai.identity.tables import api_keys, users

LIMITS = ("rpm_limit", "rph_limit", "tpm_limit")
SELF_EDITABLE = frozenset({"name", "metadata"})
"""What a key may change of itself: nothing that restricts it."""


@dataclass(frozen=True, slots=True)
class Bounds:
    """The most a caller may hand out; None in a field means unbounded in that respect."""

    allowed_models: frozenset[str] | None = None
    rpm_limit: int | None = None
    rph_limit: int | None = None
    tpm_limit: int | None = None
    budget_id: str | None = None
    department_id: str | None = None
    expires_at: datetime | None = None

    @property
    def unbounded(self) -> bool:
        return self == UNBOUNDED

    def meet(self, other: Bounds) -> Bounds:
        """The tighter of two bounds in every field (the first one's department and budget win a conflict)."""
        models = self.allowed_models
        if other.allowed_models is not None:
            models = other.allowed_models if models is None else models & other.allowed_models
        return Bounds(
            allowed_models=models,
            **{f: _least(getattr(self, f), getattr(other, f)) for f in LIMITS},
            budget_id=self.budget_id or other.budget_id,
            department_id=self.department_id or other.department_id,
            expires_at=_least(_utc(self.expires_at), _utc(other.expires_at)),
        )


UNBOUNDED = Bounds()


def inherit(bounds: Bounds, values: dict[str, Any], given: set[str]) -> dict[str, Any]:
    """`values` of a new key, with every field the caller left out tightened to the caller's bound."""
    out = dict(values)
    for f in fields(Bounds):
        bound = getattr(bounds, f.name)
        if f.name in given or bound is None:
            continue
        if f.name == "allowed_models":
            out[f.name] = sorted(bound)
        elif f.name in LIMITS:
            out[f.name] = _least(out.get(f.name), bound)
        else:
            out[f.name] = bound
    return out


def check(bounds: Bounds, key: Mapping[str, Any]) -> None:
    """403 naming the first field of `key` (a key's columns) that goes beyond `bounds`."""
    models = key.get("allowed_models")
    if bounds.allowed_models is not None:
        beyond = None if models is None else sorted(set(models) - bounds.allowed_models)
        if models is None or beyond:
            what = "every model" if models is None else ", ".join(beyond or ())
            raise _beyond("allowed_models", f"{what} (yours: {', '.join(sorted(bounds.allowed_models)) or 'none'})")
    for f in LIMITS:
        bound, value = getattr(bounds, f), key.get(f)
        if bound is not None and (value is None or value > bound):
            raise _beyond(f, f"{'no limit' if value is None else value} (yours: {bound})")
    for f in ("budget_id", "department_id"):
        bound = getattr(bounds, f)
        if bound is not None and key.get(f) != bound:
            raise _beyond(f, f"{key.get(f) or 'none'} (yours: {bound})")
    expiry, bound_expiry = _utc(key.get("expires_at")), _utc(bounds.expires_at)
    if bound_expiry is not None and (expiry is None or expiry > bound_expiry):
        shown = "never" if expiry is None else expiry.isoformat()
        raise _beyond("expires_at", f"{shown} (yours: {bound_expiry.isoformat()})")


def check_self_edit(changes: Mapping[str, Any]) -> None:
    """A key may rename itself and change its metadata; everything else about it is set by someone above it."""
    restricted = sorted(changes.keys() - SELF_EDITABLE)
    if restricted:
        raise PermissionDenied(
            f"An API key cannot change its own {', '.join(restricted)}: only its name and metadata.",
            param=restricted[0],
        )


async def check_may_manage_users(conn: AsyncConnection, p: Principal) -> None:
    """A user signs in without any key's restrictions, so only an unrestricted key may make or change users."""
    if acts_through_key(p) and not (await bounds_of(conn, p)).unbounded:
        raise PermissionDenied(
            "A restricted API key may not create or change users (they would sign in without its restrictions): "
            "sign in, or use an unrestricted key."
        )


def acts_through_key(p: Principal) -> bool:
    """A virtual key (not the master key, not a user's JWT session)."""
    return not is_superuser(p) and not p.key_id.startswith("session:")


async def bounds_of(conn: AsyncConnection, p: Principal) -> Bounds:
    """The caller's bounds as stored now (the admin API reads them fresh, not from the key cache)."""
    if is_superuser(p):
        return UNBOUNDED
    own = UNBOUNDED
    if acts_through_key(p):
        row = (await conn.execute(select(api_keys).where(api_keys.c.id == p.key_id))).mappings().first()
        if row is None:  # deleted under our feet: it holds nothing
            raise PermissionDenied("This API key no longer exists.")
        models = row["allowed_models"]
        own = Bounds(
            allowed_models=None if models is None else frozenset(models),
            **{f: row[f] for f in LIMITS},
            budget_id=row["budget_id"],
            department_id=row["department_id"],
            expires_at=row["expires_at"],
        )
    elif p.role in ("owner", "admin"):
        return UNBOUNDED
    if p.user_id is None:
        return own
    user = (await conn.execute(select(users).where(users.c.id == p.user_id))).mappings().first()
    if user is None or RANK.get(user["role"], 0) >= RANK["admin"]:
        return own
    return own.meet(
        Bounds(rpm_limit=user["rpm_limit"], tpm_limit=user["tpm_limit"], department_id=user["department_id"])
    )


def _beyond(param: str, detail: str) -> PermissionDenied:
    return PermissionDenied(f"You may not grant more than you hold: '{param}' would be {detail}.", param=param)


def _least(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
