"""Who may do what on the admin API: pure rules over a `Principal`.

| capability      | owner | admin | member | viewer |
|-----------------|:-----:|:-----:|:------:|:------:|
| read the tenant (keys, users, departments) | yes | yes | own keys only | yes |
| manage the tenant's keys, users, departments | yes | yes | no | no |
| manage own keys | yes | yes | yes | no |
| read the audit log | yes | yes | no | no |
| grant or change the owner role | yes | no | no | no |
| read usage, request log, budgets and events, cache stats, provider health | yes | yes | own calls | yes |
| manage budgets, clear the cache, change guardrail policies | yes | yes | no | no |

"Own calls": a member reads the usage and request log of its own calls (those its user made, through any
of its keys), and nothing else of the tenant's (no budgets, cache or provider health).

The superuser (the master key: `is_admin` and no tenant) may do everything in every tenant. Nobody else
sees another tenant: a foreign id answers 404, exactly like an id that does not exist.
"""

from __future__ import annotations

import re
from enum import Enum

from oneflow_ai.auth.principal import Principal
from oneflow_ai.errors import InvalidRequest, NotFound, PermissionDenied

ROLES = ("owner", "admin", "member", "viewer")
ID = re.compile(r"[A-Za-z0-9_\-]{1,64}")
"""What every id this module hands out looks like; anything else cannot exist, so it is not looked up."""
RANK = {"viewer": 1, "member": 2, "admin": 3, "owner": 4}


class Can(Enum):
    READ_TENANT = "read the tenant's data"
    MANAGE_TENANT = "manage the tenant"
    MANAGE_OWN_KEYS = "manage API keys"
    READ_AUDIT = "read the audit log"
    READ_OWN_USAGE = "read the usage of your own calls"


GRANTS: dict[str, frozenset[Can]] = {
    "owner": frozenset(Can),
    "admin": frozenset(Can),
    "member": frozenset({Can.MANAGE_OWN_KEYS, Can.READ_OWN_USAGE}),
    "viewer": frozenset({Can.READ_TENANT}),
}


def is_superuser(p: Principal) -> bool:
    return p.is_admin and p.tenant_id is None


def can(p: Principal, what: Can) -> bool:
    return is_superuser(p) or what in GRANTS.get(p.role or "", frozenset())


def require(p: Principal, what: Can) -> None:
    if not can(p, what):
        raise PermissionDenied(f"Your role ({p.role or 'none'}) may not {what.value}.")


def require_any(p: Principal, *what: Can) -> None:
    if not any(can(p, w) for w in what):
        raise PermissionDenied(f"Your role ({p.role or 'none'}) may not {what[0].value}.")


def scope(p: Principal) -> str | None:
    """The tenant every query of this caller is confined to; None only for the superuser."""
    if is_superuser(p):
        return None
    if p.tenant_id is None:  # a non-superuser without a tenant sees nothing
        raise PermissionDenied("This credential belongs to no tenant.")
    return p.tenant_id


def target_tenant(p: Principal, requested: str | None, default: str) -> str:
    """Where a new object goes: the caller's own tenant; the superuser may name one (else `default`)."""
    own = scope(p)
    if own is None:
        return requested or default
    if requested is not None and requested != own:
        raise NotFoundInTenant("tenant", requested)
    return own


def own_calls(p: Principal) -> str | None:
    """Whose calls a usage or request-log query of `p` is confined to, within `scope(p)`: None for those who
    read the tenant (every user's calls), the caller's own user id for a member; 403 for anyone else."""
    if can(p, Can.READ_TENANT):
        return None
    if can(p, Can.READ_OWN_USAGE):
        if p.user_id is None:
            raise PermissionDenied("This key belongs to no user, so it has no calls of its own to read.")
        return p.user_id
    raise PermissionDenied(f"Your role ({p.role or 'none'}) may not {Can.READ_TENANT.value}.")


def confine(p: Principal, requested: str | None) -> str | None:
    """The tenant a read is confined to: the caller's own (naming another answers 404, as a missing one does);
    the superuser's choice, None meaning every tenant."""
    own = scope(p)
    if own is None:
        return requested
    if requested is not None and requested != own:
        raise NotFoundInTenant("tenant", requested)
    return own


def check_role(value: str) -> str:
    if value not in RANK:
        raise InvalidRequest(f"'role' must be one of {', '.join(ROLES)}", param="role")
    return value


def may_grant(p: Principal, role: str) -> None:
    """Nobody hands out more than they hold; only owners (and the superuser) make owners."""
    check_role(role)
    if is_superuser(p):
        return
    if RANK[role] > RANK.get(p.role or "", 0) or (role == "owner" and p.role != "owner"):
        raise PermissionDenied(f"Your role ({p.role or 'none'}) may not grant the role '{role}'.")


def weaker(a: str, b: str | None) -> str:
    """The lesser of two roles (a key never holds more than its user)."""
    if b is None:
        return a
    return a if RANK.get(a, 0) <= RANK.get(b, 0) else b


class NotFoundInTenant(NotFound):
    """An id that does not exist in the caller's tenant (whether or not it exists elsewhere)."""

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"No such {kind}.")  # the id is not echoed back
        self.ident = ident


def well_formed(kind: str, ident: str) -> str:
    """`ident`, or 404 when it cannot be an id at all."""
    if not ID.fullmatch(ident):
        raise NotFoundInTenant(kind, ident)
    return ident
