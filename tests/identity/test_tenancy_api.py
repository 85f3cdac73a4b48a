"""Roles and tenants on every admin endpoint, over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.identity.conftest import MASTER, PASSWORD, Client, assert_error, bearer, unique_email


def _tenant_with_owner(c: Client, name: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(tenant id, the owner's JWT headers, an admin-role key of that tenant)."""
    tenant = c.new_tenant(name)
    _, token = c.new_user(tenant, "owner")
    owner = bearer(token)
    key = c.new_key(owner, role="admin", name=f"{name}-admin")
    return tenant, owner, key


def test_one_tenant_never_sees_or_touches_another(client: Client) -> None:
    a, a_owner, a_key = _tenant_with_owner(client, "tenant-a")
    b, b_owner, b_key = _tenant_with_owner(client, "tenant-b")
    b_user, _ = client.new_user(b, "member")
    b_dep = client.post("/departments", b_owner, json={"name": "research"}).json()["id"]
    for a_creds in (a_owner, bearer(a_key["key"])):
        for method, path, body in [
            ("GET", f"/api-keys/{b_key['id']}", None),
            ("PATCH", f"/api-keys/{b_key['id']}", {"name": "mine now"}),
            ("DELETE", f"/api-keys/{b_key['id']}", None),
            ("POST", f"/api-keys/{b_key['id']}/rotate", {}),
            ("GET", f"/users/{b_user}", None),
            ("PATCH", f"/users/{b_user}", {"role": "viewer"}),
            ("GET", f"/tenants/{b}", None),
            ("PATCH", f"/tenants/{b}", {"name": "x"}),
            ("POST", "/api-keys", {"name": "x", "tenant_id": b}),
            ("POST", "/api-keys", {"name": "x", "user_id": b_user}),
            ("POST", "/api-keys", {"name": "x", "department_id": b_dep}),
            ("POST", "/departments", {"name": "x", "tenant_id": b}),
            ("POST", "/auth/register", {"name": "x", "email": unique_email(), "password": PASSWORD, "tenant_id": b}),
        ]:
            r = client.request(method, path, a_creds, json=body)
            assert_error(r, 404, "not_found")
        listed = client.get("/api-keys", a_creds).json()["data"]
        assert {k["tenant_id"] for k in listed} == {a}
        assert {u["tenant_id"] for u in client.get("/users", a_creds).json()["data"]} == {a}
        assert [t["id"] for t in client.get("/tenants", a_creds).json()["data"]] == [a]
        assert all(e["tenant_id"] == a for e in client.get("/audit", a_creds).json()["data"])
    assert client.chat(b_key["key"]).status_code == 200  # B's key was never touched
    assert client.get(f"/api-keys/{b_key['id']}", b_owner).json()["name"] == "tenant-b-admin"


def test_members_manage_their_own_keys_only(client: Client) -> None:
    tenant, owner, _ = _tenant_with_owner(client, "acme")
    member_id, member_token = client.new_user(tenant, "member")
    member = bearer(member_token)
    other = client.new_key(owner, name="someone else's")

    mine = client.post("/api-keys", member, json={"name": "mine", "user_id": None})
    assert mine.status_code == 201 and mine.json()["user_id"] == member_id
    assert [k["id"] for k in client.get("/api-keys", member).json()["data"]] == [mine.json()["id"]]
    assert client.patch(f"/api-keys/{mine.json()['id']}", member, json={"name": "renamed"}).status_code == 200
    assert client.post(f"/api-keys/{mine.json()['id']}/rotate", member, json={"grace_period_s": 0}).status_code == 201
    assert_error(client.get(f"/api-keys/{other['id']}", member), 404)
    assert_error(client.delete(f"/api-keys/{other['id']}", member), 404)
    assert_error(client.post("/api-keys", member, json={"name": "x", "role": "admin"}), 403, "permission_denied")
    assert_error(client.post("/api-keys", member, json={"name": "x", "user_id": "usr_other"}), 403)
    for method, path, body in [
        ("GET", "/audit", None),
        ("GET", "/users", None),
        ("POST", "/departments", {"name": "d"}),
        ("PATCH", f"/users/{member_id}", {"role": "owner"}),
        ("POST", "/tenants", {"name": "t"}),
        ("POST", "/auth/register", {"name": "x", "email": unique_email(), "password": PASSWORD}),
        ("POST", "/auth/signing-keys/rotate", None),
    ]:
        assert_error(client.request(method, path, member, json=body), 403, "permission_denied")
    # A member's key is no admin either.
    member_key = client.post("/api-keys", member, json={"name": "k"}).json()["key"]
    assert_error(client.get("/audit", bearer(member_key)), 403, "permission_denied")


def test_viewers_read_admins_manage_owners_rule(client: Client) -> None:
    tenant, owner, _ = _tenant_with_owner(client, "globex")
    owner_id = client.get("/auth/me", owner).json()["user_id"]
    _, viewer_token = client.new_user(tenant, "viewer")
    viewer = bearer(viewer_token)
    admin_id, admin_token = client.new_user(tenant, "admin")
    admin = bearer(admin_token)

    assert client.get("/api-keys", viewer).status_code == 200 and client.get("/users", viewer).status_code == 200
    assert_error(client.post("/api-keys", viewer, json={"name": "x"}), 403)
    assert_error(client.get("/audit", viewer), 403)

    assert client.post("/departments", admin, json={"name": "ops"}).status_code == 201
    assert client.post("/api-keys", admin, json={"name": "ops", "role": "admin"}).status_code == 201
    assert_error(client.post("/api-keys", admin, json={"name": "x", "role": "owner"}), 403)
    assert_error(client.patch(f"/users/{owner_id}", admin, json={"role": "viewer"}), 403)
    assert_error(
        client.post(
            "/auth/register", admin, json={"name": "x", "email": unique_email(), "password": PASSWORD, "role": "owner"}
        ),
        403,
    )
    assert_error(client.patch(f"/tenants/{tenant}", admin, json={"rpm_limit": 1}), 403)
    assert client.patch(f"/users/{admin_id}", owner, json={"role": "viewer"}).status_code == 200
    # the change is immediate: the demotion ended the session they held as an admin
    assert_error(client.post("/departments", admin, json={"name": "later"}), 401, "invalid_token")

    entries = client.get("/audit", owner).json()["data"]
    update = next(e for e in entries if e["action"] == "user.update")
    assert update["actor_user_id"] == owner_id and update["target_id"] == admin_id
    assert update["source_ip"] == "127.0.0.1" and update["at"]


def test_a_keys_role_never_exceeds_its_users(client: Client) -> None:
    tenant, owner, _ = _tenant_with_owner(client, "initech")
    user_id, _ = client.new_user(tenant, "admin")
    key = client.new_key(owner, role="admin", user_id=user_id)["key"]
    assert client.get("/audit", bearer(key)).status_code == 200
    client.patch(f"/users/{user_id}", owner, json={"role": "member"})
    assert_error(client.get("/audit", bearer(key)), 403)  # the user's demotion reached the cached key


def test_master_key_is_the_superuser(client: Client) -> None:
    assert client.get("/auth/me", MASTER).json()["role"] == "superuser"
    tenants = client.get("/tenants", MASTER).json()["data"]
    assert "default" in {t["id"] for t in tenants}
    assert client.post("/auth/signing-keys/rotate", MASTER).status_code == 400  # env-configured secret
