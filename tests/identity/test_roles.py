"""Who may do what: the pure rules behind every admin endpoint."""

from __future__ import annotations

import pytest

from oneflow_ai.auth.principal import Principal
from oneflow_ai.errors import NotFound, PermissionDenied
from oneflow_ai.identity.roles import Can, can, confine, may_grant, own_calls, scope, target_tenant, weaker

SUPER = Principal(key_id="master", is_admin=True)


def user(role: str, tenant: str = "t1") -> Principal:
    return Principal(key_id="k", user_id="u", tenant_id=tenant, role=role)


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("owner", set(Can)),
        ("admin", set(Can)),
        ("member", {Can.MANAGE_OWN_KEYS, Can.READ_OWN_USAGE}),
        ("viewer", {Can.READ_TENANT}),
    ],
)
def test_capabilities_by_role(role: str, allowed: set[Can]) -> None:
    assert {c for c in Can if can(user(role), c)} == allowed


def test_the_superuser_may_do_everything_everywhere() -> None:
    assert all(can(SUPER, c) for c in Can) and scope(SUPER) is None
    assert target_tenant(SUPER, None, "default") == "default" and target_tenant(SUPER, "t9", "default") == "t9"


def test_a_tenant_is_a_wall() -> None:
    assert scope(user("owner")) == "t1"
    assert target_tenant(user("owner"), None, "default") == "t1"
    with pytest.raises(NotFound):
        target_tenant(user("owner"), "t2", "default")
    with pytest.raises(PermissionDenied):
        scope(Principal(key_id="k", role="owner"))  # no tenant and not the superuser


def test_nobody_grants_more_than_they_hold() -> None:
    may_grant(user("owner"), "owner")
    may_grant(user("admin"), "admin")
    may_grant(user("member"), "viewer")
    for who, role in [("admin", "owner"), ("member", "admin"), ("viewer", "member")]:
        with pytest.raises(PermissionDenied):
            may_grant(user(who), role)


def test_a_key_never_holds_more_than_its_user() -> None:
    assert weaker("owner", "member") == "member" and weaker("viewer", "admin") == "viewer"
    assert weaker("admin", None) == "admin"


def test_reads_of_usage_are_confined_to_the_tenant_and_a_members_own_calls() -> None:
    assert confine(SUPER, None) is None and confine(SUPER, "t2") == "t2"
    for role in ("owner", "admin", "viewer", "member"):
        assert confine(user(role), None) == "t1" and confine(user(role), "t1") == "t1"
        with pytest.raises(NotFound):
            confine(user(role), "t2")
    assert own_calls(SUPER) is None
    assert [own_calls(user(r)) for r in ("owner", "admin", "viewer")] == [None, None, None]
    assert own_calls(user("member")) == "u"
    with pytest.raises(PermissionDenied):
        own_calls(Principal(key_id="k", tenant_id="t1", role="member"))  # a member key of no user
    with pytest.raises(PermissionDenied):
        own_calls(Principal(key_id="k", user_id="u", tenant_id="t1", role=None))
