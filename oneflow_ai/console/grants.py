"""What the signed-in user may do, as the pages show it (which buttons, which roles in a list): the rules of
`identity.roles` and the services, read ahead of time. Showing is not permitting: the services still decide."""

from __future__ import annotations

from oneflow_ai.auth.principal import Principal
from oneflow_ai.errors import GatewayError
from oneflow_ai.identity.roles import ROLES, Can, can, may_grant
from oneflow_ai.identity.schemas import KeyPublic, UserPublic


def grantable(p: Principal) -> list[str]:
    """The roles `p` may hand out (to a key or a user), weakest first."""
    out = []
    for role in reversed(ROLES):
        try:
            may_grant(p, role)
        except GatewayError:
            continue
        out.append(role)
    return out


def may_create_keys(p: Principal) -> bool:
    return can(p, Can.MANAGE_TENANT) or can(p, Can.MANAGE_OWN_KEYS)


def may_manage_key(p: Principal, key: KeyPublic) -> bool:
    """`KeyAdmin`'s rule: the tenant's managers any key up to their own role; a member their own keys."""
    own = p.user_id is not None and key.user_id == p.user_id
    if not (can(p, Can.MANAGE_TENANT) or (own and can(p, Can.MANAGE_OWN_KEYS))):
        return False
    return key.role in grantable(p)


def may_change_user(p: Principal, user: UserPublic) -> bool:
    """`Directory`'s rule: managers change users whose role they could grant, never themselves here."""
    return can(p, Can.MANAGE_TENANT) and user.role in grantable(p) and user.id != p.user_id
