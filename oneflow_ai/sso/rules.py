"""Which tenant and role a signed-in user's claims earn: the configured rules, tried in order, the first match wins.

Pure: claims in, a `Grant` (or None: refused) out. A claim is named by its key (`groups`, or a namespaced
`https://example.com/roles`) or by a dotted path into nested claims (`realm_access.roles`, as Keycloak sends
them). `email_domain` is derived: the lower-cased domain of `email`, only when the provider says that address is
verified (`email_verified: true`) or the configuration trusts unverified addresses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oneflow_ai.sso.settings import ClaimRule, Grant, SSOSettings

EMAIL_DOMAIN = "email_domain"
MAX_EMAIL = 320
"""`users.email`'s size (RFC 5321's limit): a longer address is no address."""
_MISSING = object()


def grant_for(settings: SSOSettings, claims: Mapping[str, Any]) -> Grant | None:
    """The first rule `claims` match, else the default (None when the default is `deny`)."""
    derived = with_derived(claims, trust_unverified_email=settings.trust_unverified_email)
    for rule in settings.rules:
        if matches(rule, derived):
            return Grant(tenant=rule.tenant, role=rule.role)
    return None if settings.default == "deny" else settings.default


def matches(rule: ClaimRule, claims: Mapping[str, Any]) -> bool:
    value = claim_value(claims, rule.claim)
    if value is _MISSING or value is None:
        return False
    if rule.equals is not None:
        return not isinstance(value, list | dict) and _same(value, rule.equals)
    values = value if isinstance(value, list) else [value]
    return any(not isinstance(v, list | dict) and _same(v, rule.contains) for v in values)


def claim_value(claims: Mapping[str, Any], name: str) -> Any:
    """`claims[name]`, else the value at the dotted path `name`; `_MISSING` when there is none."""
    if name in claims:
        return claims[name]
    node: Any = claims
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def verified_email(claims: Mapping[str, Any], *, trust_unverified_email: bool) -> str | None:
    """The user's e-mail address, lower-cased, when there is one the provider vouches for."""
    email = claims.get("email")
    if not isinstance(email, str) or len(email) > MAX_EMAIL or email.count("@") != 1 or not email.partition("@")[2]:
        return None
    if claims.get("email_verified") is not True and not trust_unverified_email:
        return None
    return email.strip().lower()


def with_derived(claims: Mapping[str, Any], *, trust_unverified_email: bool) -> dict[str, Any]:
    """The claims plus `email_domain` (which replaces any claim of that name the provider sent)."""
    out = {k: v for k, v in claims.items() if k != EMAIL_DOMAIN}
    email = verified_email(claims, trust_unverified_email=trust_unverified_email)
    if email is not None:
        out[EMAIL_DOMAIN] = email.partition("@")[2]
    return out


def _same(value: Any, expected: str | int | bool | None) -> bool:
    """Equal as text (`42` and `"42"` match), except that a boolean matches only a boolean (`true` is not
    `"true"`)."""
    if isinstance(value, bool) or isinstance(expected, bool):
        return value is expected
    return str(value) == str(expected)
