"""What the console shows each role (pure): the roles offered, and which keys and users get buttons."""

from __future__ import annotations

from datetime import UTC, datetime

from oneflow_ai.auth.principal import Principal
from oneflow_ai.console.grants import grantable, may_change_user, may_create_keys, may_manage_key
from oneflow_ai.identity.schemas import KeyPublic, UserPublic

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def who(role: str, user_id: str = "usr_me") -> Principal:
    return Principal(key_id="session:s", user_id=user_id, tenant_id="ten_a", role=role)


def key(role: str, user_id: str | None) -> KeyPublic:
    return KeyPublic(
        id="key_1", name="k", prefix="sk-of-ab12", tenant_id="ten_a", user_id=user_id, department_id=None, role=role,
        allowed_models=None, rpm_limit=None, rph_limit=None, tpm_limit=None, budget_id=None, expires_at=None,
        revoked_at=None, rotated_from=None, grace_until=None, metadata=None, created_at=NOW, last_used_at=None,
    )  # fmt: skip


def user(role: str, user_id: str = "usr_other") -> UserPublic:
    return UserPublic(
        id=user_id, email="x@example.com", name="x", role=role, tenant_id="ten_a", department_id=None,
        rpm_limit=None, tpm_limit=None, locked_until=None, disabled_at=None, created_at=NOW,
    )  # fmt: skip


def test_roles_offered() -> None:
    assert grantable(who("owner")) == ["viewer", "member", "admin", "owner"]
    assert grantable(who("admin")) == ["viewer", "member", "admin"]
    assert grantable(who("member")) == ["viewer", "member"]
    assert grantable(who("viewer")) == ["viewer"]
    assert grantable(Principal(key_id="master", is_admin=True)) == ["viewer", "member", "admin", "owner"]


def test_key_buttons() -> None:
    assert [may_create_keys(who(r)) for r in ("owner", "admin", "member", "viewer")] == [True, True, True, False]
    assert may_manage_key(who("admin"), key("member", "usr_other"))
    assert not may_manage_key(who("admin"), key("owner", "usr_other"))  # an admin does not touch an owner's key
    assert may_manage_key(who("member"), key("member", "usr_me"))
    assert not may_manage_key(who("member"), key("member", "usr_other"))
    assert not may_manage_key(who("viewer"), key("viewer", "usr_me"))


def test_user_buttons() -> None:
    assert may_change_user(who("owner"), user("owner"))
    assert not may_change_user(who("owner"), user("owner", "usr_me"))  # not yourself
    assert may_change_user(who("admin"), user("admin")) and not may_change_user(who("admin"), user("owner"))
    assert not may_change_user(who("viewer"), user("viewer")) and not may_change_user(who("member"), user("viewer"))
