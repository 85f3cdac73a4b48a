"""Removing users over real HTTP: deleting, disabling and demoting one ends their sessions at once."""

from __future__ import annotations

from typing import Any

from tests.identity.conftest import MASTER, PASSWORD, Client, assert_error, bearer, unique_email


def _user(c: Client, tenant: str, role: str) -> tuple[str, str, dict[str, Any]]:
    """(user id, e-mail, their logged-in token pair)."""
    email = unique_email(role)
    r = c.post(
        "/auth/register",
        MASTER,
        json={"name": role, "email": email, "password": PASSWORD, "role": role, "tenant_id": tenant},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"]), email, c.login(email)


def _audit(c: Client, action: str, user_id: str) -> list[dict[str, Any]]:
    return [e for e in c.get("/audit", MASTER, params={"action": action}).json()["data"] if e["target_id"] == user_id]


def _ended(c: Client, tokens: dict[str, Any]) -> None:
    """Neither the access token nor the refresh token of that session works any more."""
    assert_error(c.get("/auth/me", bearer(tokens["access_token"])), 401, "invalid_token")
    assert_error(c.get("/users", bearer(tokens["access_token"])), 401, "invalid_token")
    assert_error(c.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), 401, "invalid_refresh_token")


def test_deleting_a_user_ends_their_sessions_and_revokes_their_keys(client: Client) -> None:
    tenant = client.new_tenant()
    _, _, owner_tokens = _user(client, tenant, "owner")
    owner = bearer(owner_tokens["access_token"])
    member_id, email, member = _user(client, tenant, "member")
    key = client.new_key(owner, user_id=member_id, name="member's")
    assert client.chat(key["key"]).status_code == 200

    assert client.delete(f"/users/{member_id}", owner).status_code == 204

    _ended(client, member)
    assert_error(client.chat(key["key"]), 401, "invalid_api_key")
    assert client.get(f"/api-keys/{key['id']}", owner).json()["revoked_at"] is not None
    assert_error(client.post("/auth/login", json={"email": email, "password": PASSWORD}), 401, "invalid_credentials")
    assert_error(client.get(f"/users/{member_id}", owner), 404)
    assert member_id not in {u["id"] for u in client.get("/users", owner).json()["data"]}
    assert_error(client.delete(f"/users/{member_id}", owner), 404)  # deleted once
    assert_error(client.post("/api-keys", owner, json={"name": "x", "user_id": member_id}), 404)
    (entry,) = _audit(client, "user.delete", member_id)
    assert entry["detail"] == {"role": "member", "sessions_revoked": 1, "keys_revoked": 1}
    assert entry["actor_user_id"] and entry["tenant_id"] == tenant
    # The address is free again (the deleted row keeps no e-mail).
    again = client.post("/auth/register", MASTER, json={"name": "n", "email": email, "password": PASSWORD})
    assert again.status_code == 201 and again.json()["id"] != member_id


def test_who_may_delete_whom(client: Client) -> None:
    tenant = client.new_tenant()
    owner_id, _, owner_tokens = _user(client, tenant, "owner")
    owner = bearer(owner_tokens["access_token"])
    admin_id, _, admin_tokens = _user(client, tenant, "admin")
    admin = bearer(admin_tokens["access_token"])
    member_id, _, member_tokens = _user(client, tenant, "member")
    other_admin_id, _, _ = _user(client, tenant, "admin")

    assert_error(client.delete(f"/users/{owner_id}", bearer(member_tokens["access_token"])), 403)  # members: no
    assert_error(client.delete(f"/users/{owner_id}", admin), 403)  # an admin never removes an owner
    assert_error(client.patch(f"/users/{owner_id}", admin, json={"disabled": True}), 403)
    assert_error(client.delete(f"/users/{admin_id}", admin), 403)  # nor themselves
    assert_error(client.patch(f"/users/{owner_id}", owner, json={"disabled": True}), 403)
    assert_error(client.delete(f"/users/{owner_id}", MASTER), 409, "last_owner")  # a tenant keeps an owner
    assert_error(client.patch(f"/users/{owner_id}", MASTER, json={"disabled": True}), 409, "last_owner")
    assert_error(client.patch(f"/users/{owner_id}", MASTER, json={"role": "admin"}), 409, "last_owner")
    assert client.delete(f"/users/{other_admin_id}", admin).status_code == 204  # an admin removes an admin
    assert client.delete(f"/users/{member_id}", admin).status_code == 204
    second_id, _, second_tokens = _user(client, tenant, "owner")
    assert client.delete(f"/users/{owner_id}", bearer(second_tokens["access_token"])).status_code == 204
    assert_error(client.delete("/users/usr_nope", MASTER), 404)
    assert_error(client.delete(f"/users/{second_id}", bearer(admin_tokens["access_token"])), 403)


def test_demoting_a_user_ends_their_sessions(client: Client) -> None:
    tenant = client.new_tenant()
    _, _, owner_tokens = _user(client, tenant, "owner")
    owner = bearer(owner_tokens["access_token"])
    admin_id, email, admin = _user(client, tenant, "admin")
    refreshed = client.post("/auth/refresh", json={"refresh_token": admin["refresh_token"]}).json()

    r = client.patch(f"/users/{admin_id}", owner, json={"role": "viewer"})
    assert r.status_code == 200 and r.json()["role"] == "viewer"

    _ended(client, refreshed)  # the session they held as an admin is over, refreshed or not
    assert_error(client.get("/auth/me", bearer(admin["access_token"])), 401, "invalid_token")
    (entry,) = _audit(client, "user.update", admin_id)
    assert entry["detail"] == {"role": "viewer", "sessions_revoked": 1}
    me = client.get("/auth/me", bearer(client.login(email)["access_token"])).json()
    assert me["role"] == "viewer"  # they sign in again, as what they are now
    # A change that is not a role change leaves sessions alone.
    renamed = client.login(email)
    assert client.patch(f"/users/{admin_id}", owner, json={"name": "Vera", "role": "viewer"}).status_code == 200
    assert client.get("/auth/me", bearer(renamed["access_token"])).status_code == 200


def test_a_disabled_user_can_do_nothing_until_enabled(client: Client) -> None:
    tenant = client.new_tenant()
    _, _, admin_tokens = _user(client, tenant, "admin")
    admin = bearer(admin_tokens["access_token"])
    _user(client, tenant, "owner")
    member_id, email, member = _user(client, tenant, "member")
    key = client.new_key(admin, user_id=member_id, name="member's")

    r = client.patch(f"/users/{member_id}", admin, json={"disabled": True})
    assert r.status_code == 200 and r.json()["disabled_at"] is not None

    _ended(client, member)
    assert_error(client.chat(key["key"]), 401, "invalid_api_key")
    assert_error(client.post("/auth/login", json={"email": email, "password": PASSWORD}), 403, "user_disabled")
    wrong = client.post("/auth/login", json={"email": email, "password": "not the password at all"})
    assert_error(wrong, 401, "invalid_credentials")  # only whoever knows the password learns it is disabled
    assert_error(client.patch(f"/users/{member_id}", admin, json={"disabled": None}), 400)
    (entry,) = _audit(client, "user.disable", member_id)
    assert entry["detail"] == {"disabled": True, "sessions_revoked": 1}

    r = client.patch(f"/users/{member_id}", admin, json={"disabled": False})
    assert r.status_code == 200 and r.json()["disabled_at"] is None
    assert _audit(client, "user.enable", member_id)
    assert client.get("/auth/me", bearer(client.login(email)["access_token"])).status_code == 200
    assert client.chat(key["key"]).status_code == 200  # their keys work again
