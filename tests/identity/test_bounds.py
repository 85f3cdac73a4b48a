"""Nobody grants more than they hold: every way a restricted key or a member could lift their own restrictions,
over real HTTP on SQLite and PostgreSQL, and the pure rules behind them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from oneflow_ai.errors import PermissionDenied
from oneflow_ai.identity.bounds import UNBOUNDED, Bounds, check, check_self_edit, inherit
from tests.identity.conftest import PASSWORD, Client, assert_error, bearer, unique_email

SOON = datetime.now(UTC) + timedelta(hours=1)

Attempt = tuple[str, str, dict[str, Any] | None, str | None]
"""(method, path, body, the param its refusal must name; None: any 403 permission_denied)."""


def refused(r: httpx.Response, param: str | None) -> None:
    body = assert_error(r, 403, "permission_denied")
    if param is not None:
        assert body["error"]["param"] == param and param in body["error"]["message"], body


def escapes(c: Client, headers: dict[str, str], attempts: list[Attempt]) -> list[tuple[str, str, Any, int]]:
    """The attempts that were not refused as they must be. All are tried, so a failure lists every way out."""
    out = []
    for method, path, body, param in attempts:
        r = c.request(method, path, headers, json=body)
        try:
            refused(r, param)
        except AssertionError:
            out.append((method, path, body, r.status_code))
    return out


def _tenant(c: Client, name: str) -> tuple[str, dict[str, str]]:
    """(a new tenant, its owner's JWT headers)."""
    tenant = c.new_tenant(name)
    _, token = c.new_user(tenant, "owner")
    return tenant, bearer(token)


def test_a_restricted_key_cannot_lift_its_own_restrictions(client: Client) -> None:
    tenant, owner = _tenant(client, "bounded")
    department = client.post("/departments", owner, json={"name": "research"}).json()["id"]
    member_id, _ = client.new_user(tenant, "member")
    key = client.new_key(
        owner,
        user_id=member_id,
        department_id=department,
        allowed_models=["demo"],
        rpm_limit=10,
        tpm_limit=1000,
        budget_id="bud_team",
        expires_at=SOON.isoformat(),
    )
    own, me = bearer(key["key"]), f"/api-keys/{key['id']}"

    # Mint a key beyond itself in any respect; PATCH itself to every model, an unbounded rate, no department, no
    # budget, a later expiry (the paths).
    mint: list[tuple[dict[str, Any], str]] = [
        ({"allowed_models": None}, "allowed_models"),
        ({"allowed_models": ["demo-embedding"]}, "allowed_models"),
        ({"rpm_limit": 2147483647}, "rpm_limit"),
        ({"tpm_limit": None}, "tpm_limit"),
        ({"department_id": None}, "department_id"),
        ({"budget_id": None}, "budget_id"),
        ({"budget_id": "bud_other"}, "budget_id"),
        ({"expires_at": None}, "expires_at"),
        ({"expires_at": (SOON + timedelta(days=1)).isoformat()}, "expires_at"),
    ]
    lift: list[tuple[dict[str, Any], str]] = [
        ({"allowed_models": None}, "allowed_models"),
        ({"allowed_models": ["demo", "demo-embedding"]}, "allowed_models"),
        ({"rpm_limit": 2147483647}, "rpm_limit"),
        ({"rpm_limit": None}, "rpm_limit"),
        ({"tpm_limit": 5}, "tpm_limit"),  # even narrowing: a key's restrictions are set by someone above it
        ({"department_id": None}, "department_id"),
        ({"budget_id": None}, "budget_id"),
        ({"expires_at": None}, "expires_at"),
        ({"expires_at": (SOON + timedelta(days=30)).isoformat()}, "expires_at"),
        ({"role": "viewer", "name": "x"}, "role"),
    ]
    attempts: list[Attempt] = [("POST", "/api-keys", {"name": "escape", **b}, p) for b, p in mint]
    assert escapes(client, own, attempts + [("PATCH", me, b, p) for b, p in lift]) == []

    unchanged = client.get(me, owner).json()
    assert unchanged["allowed_models"] == ["demo"] and unchanged["rpm_limit"] == 10
    assert (unchanged["department_id"], unchanged["budget_id"]) == (department, "bud_team")
    embedding = {"model": "demo-embedding", "messages": [{"role": "user", "content": "x"}]}
    assert_error(client.chat(key["key"], embedding), 403, "model_not_allowed")

    # What it may do: rename itself, rotate itself, and make keys like itself or narrower.
    assert client.patch(me, own, json={"name": "renamed", "metadata": {"a": 1}}).status_code == 200
    child = client.new_key(own, name="child")  # a field left out takes the maker's bound, not the default
    assert child["allowed_models"] == ["demo"] and (child["rpm_limit"], child["tpm_limit"]) == (10, 1000)
    assert (child["department_id"], child["budget_id"]) == (department, "bud_team")
    assert datetime.fromisoformat(child["expires_at"]) == datetime.fromisoformat(unchanged["expires_at"])
    narrow = client.new_key(own, name="narrow", rpm_limit=3, expires_at=(SOON - timedelta(minutes=5)).isoformat())
    assert narrow["rpm_limit"] == 3 and client.chat(narrow["key"]).status_code == 200
    assert client.patch(f"/api-keys/{narrow['id']}", own, json={"rpm_limit": 2}).status_code == 200
    refused(client.patch(f"/api-keys/{narrow['id']}", own, json={"rpm_limit": 11}), "rpm_limit")

    rotated = client.post(f"{me}/rotate", own, json={"grace_period_s": 600})
    assert rotated.status_code == 201 and rotated.json()["allowed_models"] == ["demo"]
    # The old secret works for its grace period: the new key may not widen it either.
    refused(client.patch(me, bearer(rotated.json()["key"]), json={"allowed_models": None}), "allowed_models")
    assert client.delete(f"/api-keys/{narrow['id']}", own).status_code == 200


def test_an_admin_through_a_restricted_key_is_bound_by_it(client: Client) -> None:
    tenant, owner = _tenant(client, "admins")
    restricted = client.new_key(owner, role="admin", name="ops", allowed_models=["demo"], rpm_limit=10)
    via_key = bearer(restricted["key"])
    wide = client.new_key(owner, name="wide", rpm_limit=None, rph_limit=None)  # an owner by JWT is unbounded
    assert wide["rpm_limit"] is None and wide["allowed_models"] is None
    member_id, _ = client.new_user(tenant, "member")
    register = {"name": "x", "email": unique_email(), "password": PASSWORD, "role": "admin"}

    assert (
        escapes(
            client,
            via_key,
            [
                ("POST", "/api-keys", {"name": "x", "allowed_models": None}, "allowed_models"),
                ("PATCH", f"/api-keys/{wide['id']}", {"name": "mine"}, "allowed_models"),
                ("POST", f"/api-keys/{wide['id']}/rotate", {}, "allowed_models"),  # its new secret is unrestricted
                ("PATCH", f"/api-keys/{restricted['id']}", {"allowed_models": None}, "allowed_models"),
                # A user it made or promoted would sign in without the key's restrictions.
                ("POST", "/auth/register", register, None),
                ("PATCH", f"/users/{member_id}", {"role": "admin"}, None),
                ("DELETE", f"/users/{member_id}", None, None),
            ],
        )
        == []
    )

    narrowed = {"allowed_models": ["demo"], "rpm_limit": 5, "rph_limit": 100}
    assert client.patch(f"/api-keys/{wide['id']}", owner, json=narrowed).status_code == 200
    assert client.patch(f"/api-keys/{wide['id']}", via_key, json={"rpm_limit": 4}).status_code == 200
    assert client.delete(f"/api-keys/{wide['id']}", via_key).status_code == 200  # taking away is always allowed
    assert client.post("/auth/register", owner, json=register).status_code == 201  # by JWT: unbounded


def test_a_member_gives_no_key_more_than_their_own_limits_and_department(client: Client) -> None:
    tenant, owner = _tenant(client, "members")
    department = client.post("/departments", owner, json={"name": "sales"}).json()["id"]
    member_id, member_token = client.new_user(tenant, "member")
    limits = {"rpm_limit": 20, "tpm_limit": 500, "department_id": department}
    assert client.patch(f"/users/{member_id}", owner, json=limits).status_code == 200
    member = bearer(member_token)

    assert (
        escapes(
            client,
            member,
            [
                ("POST", "/api-keys", {"name": "x", "rpm_limit": 21}, "rpm_limit"),
                ("POST", "/api-keys", {"name": "x", "tpm_limit": None}, "tpm_limit"),
                ("POST", "/api-keys", {"name": "x", "department_id": None}, "department_id"),
            ],
        )
        == []
    )
    key = client.new_key(member, name="mine")
    assert (key["rpm_limit"], key["tpm_limit"], key["department_id"]) == (20, 500, department)
    refused(client.patch(f"/api-keys/{key['id']}", member, json={"department_id": None}), "department_id")
    assert client.patch(f"/api-keys/{key['id']}", member, json={"rpm_limit": 7}).status_code == 200
    # Through that key the member is bound by both: the key's 7 and the user's department.
    refused(client.post("/api-keys", bearer(key["key"]), json={"name": "y", "rpm_limit": 8}), "rpm_limit")


def test_bounds_are_checked_field_by_field() -> None:
    b = Bounds(allowed_models=frozenset({"a", "b"}), rpm_limit=10, department_id="d", expires_at=SOON)
    check(b, {"allowed_models": ["a"], "rpm_limit": 10, "department_id": "d", "expires_at": SOON})
    check(UNBOUNDED, {"allowed_models": None, "rpm_limit": None})
    naive = (SOON + timedelta(seconds=1)).replace(tzinfo=None)  # naive times are UTC, as the database reads them
    ok = {"allowed_models": ["a"], "rpm_limit": 1, "department_id": "d"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"allowed_models": None}, "allowed_models"),
        ({"allowed_models": ["a", "c"]}, "allowed_models"),
        ({"allowed_models": ["a"], "rpm_limit": 11}, "rpm_limit"),
        ({**ok, "department_id": "e"}, "department_id"),
        ({**ok, "expires_at": naive}, "expires_at"),
    ]
    for key, param in cases:
        with pytest.raises(PermissionDenied) as e:
            check(b, key)
        assert e.value.param == param


def test_a_new_key_takes_the_makers_bound_for_what_it_leaves_out() -> None:
    b = Bounds(allowed_models=frozenset({"a", "b"}), rpm_limit=10, department_id="d", expires_at=SOON)
    made = inherit(b, {"rpm_limit": 60, "allowed_models": None, "tpm_limit": None}, {"tpm_limit"})
    assert made == {
        "rpm_limit": 10,
        "allowed_models": ["a", "b"],
        "tpm_limit": None,
        "department_id": "d",
        "expires_at": SOON,
    }
    met = b.meet(Bounds(allowed_models=frozenset({"b", "c"}), rpm_limit=20, tpm_limit=5))
    assert (met.allowed_models, met.rpm_limit, met.tpm_limit, met.department_id) == (frozenset({"b"}), 10, 5, "d")


def test_a_key_edits_only_its_name_and_metadata() -> None:
    check_self_edit({"name": "x", "metadata": {}})
    with pytest.raises(PermissionDenied) as e:
        check_self_edit({"name": "x", "rpm_limit": 1})
    assert e.value.param == "rpm_limit"
