"""Tenant-scoped admin APIs over the real app (SQLite and PostgreSQL): usage, budgets and their events, routing
health, cache stats, guardrail policies and the request log answer a tenant's owners and admins (viewers read,
members their own calls), the master key every tenant; another tenant's id answers 404 exactly as a missing one;
cursors walk every row of keys, users, audit entries, budget events and the request log exactly once."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from oneflow_ai.store.db import create_engine
from oneflow_ai.store.tables import budget_events, usage_records
from tests.conftest import GatewayFactory
from tests.identity.conftest import MASTER, Client, assert_error, bearer, identity_env


@dataclass
class Tenant:
    id: str
    owner: dict[str, str]
    admin: dict[str, str]
    viewer: dict[str, str]
    member: dict[str, str]
    member_id: str
    member_key: str
    admin_key: dict[str, Any]


@dataclass
class World:
    c: Client
    db: str
    a: Tenant
    b: Tenant


def _tenant(c: Client, name: str) -> Tenant:
    """A tenant with one key per role (made by the master key: keys are cheap, a user costs an argon2 hash) and
    one member user, whose own key makes its calls; the member reads with its JWT and with its key."""
    tenant = c.new_tenant(name)
    owner, admin, viewer = (c.new_key(MASTER, tenant_id=tenant, role=r, name=r) for r in ("owner", "admin", "viewer"))
    member_id, token = c.new_user(tenant, "member")
    member = bearer(token)
    member_key = c.post("/api-keys", member, json={"name": "mine"}).json()["key"]
    return Tenant(
        tenant,
        bearer(owner["key"]),
        bearer(admin["key"]),
        bearer(viewer["key"]),
        member,
        member_id,
        member_key,
        admin,
    )


def _db(url: str, fn: Any) -> Any:
    async def go() -> Any:
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                return await fn(conn)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _requests(w: World, headers: dict[str, str], **params: Any) -> httpx.Response:
    return w.c.get("/requests", headers, params=params)


def _wait_for_calls(w: World, tenant: str, n: int) -> None:
    deadline = time.monotonic() + 30
    while len(_requests(w, MASTER, tenant=tenant, limit=1000).json()["data"]) < n:
        assert time.monotonic() < deadline, "the ledger did not write the calls"
        time.sleep(0.05)


@pytest.fixture
def world(start_gateway: GatewayFactory, database_url: str) -> World:
    c = Client(start_gateway(database_url=database_url, env=identity_env()).url)
    a, b = _tenant(c, "tenant-a"), _tenant(c, "tenant-b")
    for key in (a.admin_key["key"], a.admin_key["key"], a.admin_key["key"], a.member_key, a.member_key):
        assert c.chat(key).status_code == 200
    for key in (b.admin_key["key"], b.member_key):
        assert c.chat(key).status_code == 200
    w = World(c, database_url, a, b)
    _wait_for_calls(w, a.id, 5)
    _wait_for_calls(w, b.id, 2)
    return w


def walk(get: Any, limit: int) -> list[dict[str, Any]]:
    """Every entry of a cursor-paginated listing, page by page (`get(params) -> Response`)."""
    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(1000):
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        r = get(params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["data"]) <= limit
        seen += page["data"]
        cursor = page["next_cursor"]
        assert page["has_more"] == (cursor is not None)
        if cursor is None:
            return seen
    raise AssertionError("the cursor never ended")


def test_usage_is_the_callers_tenant_and_a_members_own_calls(world: World) -> None:
    w, a, b = world, world.a, world.b

    def requests(headers: dict[str, str], **params: str) -> int:
        r = httpx.get(w.c.url + "/api/v1/usage", headers=headers, params=params, timeout=30)
        assert r.status_code == 200, r.text
        return int(r.json()["totals"]["requests"])

    for who in (a.owner, a.admin, a.viewer):
        assert requests(who) == 5
        assert requests(who, tenant=a.id) == 5
    assert requests(a.member) == 2 and requests(bearer(a.member_key)) == 2  # its own calls only
    assert requests(b.owner) == 2
    assert requests(MASTER, tenant=a.id) == 5 and requests(MASTER, tenant=b.id) == 2
    assert requests(MASTER) >= 7
    foreign = httpx.get(w.c.url + "/api/v1/usage", headers=a.owner, params={"tenant": b.id}, timeout=30)
    missing = httpx.get(w.c.url + "/api/v1/usage", headers=a.owner, params={"tenant": "no_such"}, timeout=30)
    assert_error(foreign, 404)
    assert foreign.json() == missing.json()
    other = httpx.get(w.c.url + "/api/v1/usage", headers=a.member, params={"user": "usr_other"}, timeout=30)
    assert_error(other, 403, "permission_denied")


def test_request_log_scoping_fields_and_filters(world: World) -> None:
    w, a, b = world, world.a, world.b
    for who in (a.owner, a.admin, a.viewer):
        rows = _requests(w, who, limit=100).json()["data"]
        assert len(rows) == 5 and {r["tenant_id"] for r in rows} == {a.id}
    mine = _requests(w, a.member).json()["data"]
    assert len(mine) == 2 and {r["user_id"] for r in mine} == {a.member_id}
    assert_error(_requests(w, a.member, user_id="usr_other"), 403, "permission_denied")
    assert {r["tenant_id"] for r in _requests(w, b.owner).json()["data"]} == {b.id}
    assert_error(_requests(w, a.owner, tenant=b.id), 404)
    assert _requests(w, a.owner, tenant=b.id).json() == _requests(w, a.owner, tenant="no_such").json()
    assert len(_requests(w, MASTER, tenant=b.id).json()["data"]) == 2

    row = _requests(w, a.owner, key_id=a.admin_key["id"]).json()["data"][0]
    for field in (
        "request_id",
        "created_at",
        "requested_model",
        "served_model",
        "provider",
        "key_id",
        "user_id",
        "status",
        "http_status",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "credits",
        "latency_ms",
        "ttft_ms",
        "cache_hit",
        "cache_kind",
        "guardrail",
        "guardrail_action",
        "experiment",
        "variant",
    ):
        assert field in row, field
    assert row["requested_model"] == "demo" and row["status"] == "ok" and row["http_status"] == 200
    assert row["key_id"] == a.admin_key["id"] and row["cache_hit"] is False
    assert not any("hello" in str(v) for v in row.values())  # the prompt is never stored or shown
    assert len(_requests(w, a.owner, key_id=a.admin_key["id"]).json()["data"]) == 3
    assert len(_requests(w, a.owner, model="demo").json()["data"]) == 5
    assert _requests(w, a.owner, model="gpt-nothing").json()["data"] == []
    assert len(_requests(w, a.owner, status="ok").json()["data"]) == 5
    assert _requests(w, a.owner, status="error").json()["data"] == []
    assert _requests(w, a.owner, cache_hit="true").json()["data"] == []
    assert len(_requests(w, a.owner, guardrail="none").json()["data"]) == 5
    assert _requests(w, a.owner, guardrail="any").json()["data"] == []
    assert _requests(w, a.owner, since="2999-01-01T00:00:00Z").json()["data"] == []
    assert _requests(w, a.owner, until="2000-01-01T00:00:00Z").json()["data"] == []
    assert_error(_requests(w, a.owner, since="yesterday"), 400)
    assert_error(_requests(w, a.owner, guardrail="explode"), 400)
    assert_error(_requests(w, a.owner, cursor="not-a-cursor"), 400, "invalid_cursor")


def test_request_log_cursor_walks_every_row_once_newest_first(world: World) -> None:
    """Rows of one instant (a tie on created_at) are split across pages and still each seen once, in order."""
    w, a = world, world.a
    tag = uuid.uuid4().hex[:8]
    tie = datetime(2031, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    rows = [
        {"request_id": f"req_{tag}_{i:02d}", "created_at": tie if i % 3 else tie - timedelta(seconds=i)}
        for i in range(23)
    ]
    seeded = [
        {
            **r,
            "tenant_id": a.id,
            "endpoint": "chat",
            "requested_model": "seeded",
            "cost_usd": Decimal("0.000123"),
            "credits": Decimal("0.0123"),
            "status": "ok",
            "http_status": 200,
            "usage_source": "provider",
            "key_id": "key_seeded",
        }
        for r in rows
    ]
    _db(w.db, lambda conn: conn.execute(insert(usage_records), seeded))
    expected = sorted(((r["created_at"], r["request_id"]) for r in rows), reverse=True)
    for limit in (1, 4, 7, 100):
        got = walk(lambda params: _requests(w, a.owner, model="seeded", **params), limit)
        assert [(datetime.fromisoformat(g["created_at"]), g["request_id"]) for g in got] == expected
        assert got[0]["cost_usd"] == "0.000123" and got[0]["credits"] == "0.0123"
    every = walk(lambda params: _requests(w, a.viewer, **params), 3)
    assert len(every) == 28 and len({g["request_id"] for g in every}) == 28  # 23 seeded + 5 calls, once each


def test_roles_on_each_endpoint(world: World) -> None:
    w, a, b = world, world.a, world.b
    c = w.c
    made = c.post("/budgets", a.owner, json={"scope": "tenant", "scope_id": a.id, "limit_usd": "10"})
    assert made.status_code == 201, made.text
    budget = made.json()["id"]
    reads = ["/budgets", f"/budgets/{budget}", "/budgets/events", f"/budgets/{budget}/events"]
    reads += ["/routing/health", "/cache/stats", "/guardrails/policies", "/requests"]
    for who in (a.owner, a.admin, a.viewer, MASTER):
        for path in reads:
            assert c.get(path, who).status_code == 200, (path, c.get(path, who).text)
    for path in reads[:-2]:  # a member reads its own calls (and the policies its keys may name), nothing else
        assert_error(c.get(path, a.member), 403, "permission_denied")
    assert c.get("/guardrails/policies", a.member).status_code == 200
    for who in (a.viewer, a.member):  # the tenant's own policies are changed by its owners and admins only
        assert_error(c.request("PUT", "/guardrails/policies/mine", who, json={"name": "mine"}), 403)
        assert_error(c.delete("/guardrails/policies/mine", who), 403)
    # writes: owners and admins (and the master key); viewers and members are refused
    for who in (a.viewer, a.member):
        assert_error(c.post("/budgets", who, json={"scope": "tenant", "scope_id": a.id, "limit_usd": "1"}), 403)
        assert_error(c.patch(f"/budgets/{budget}", who, json={"limit_usd": "5"}), 403)
        assert_error(c.delete(f"/budgets/{budget}", who), 403)
        assert_error(c.delete("/cache", who), 403)
    assert c.patch(f"/budgets/{budget}", a.admin, json={"limit_usd": "12"}).json()["limit_usd"] == "12"
    assert c.delete("/cache", a.admin).json()["tenant"] == a.id
    assert c.delete("/cache", MASTER, params={"tenant": a.id}).json()["tenant"] == a.id
    # routing health: the same deployments for everyone who may read it
    health, everyone = c.get("/routing/health", a.viewer).json(), c.get("/routing/health", MASTER).json()
    assert health["strategy"] == everyone["strategy"] and len(health["deployments"]) == len(everyone["deployments"])
    assert c.get("/cache/stats", a.viewer).json()["tenant"] == a.id
    assert_error(c.get("/cache/stats", a.viewer, params={"tenant": b.id}), 404)
    # another tenant's budget answers 404 exactly as a missing one, on every verb
    for method, body in (("GET", None), ("PATCH", {"limit_usd": "1"}), ("DELETE", None)):
        foreign = c.request(method, f"/budgets/{budget}", b.owner, json=body)
        missing = c.request(method, "/budgets/bud_0000000000000000000", b.owner, json=body)
        assert_error(foreign, 404, "budget_not_found")
        assert foreign.json()["error"] | {"message": ""} == missing.json()["error"] | {"message": ""}
    assert_error(c.get(f"/budgets/{budget}/events", b.owner), 404, "budget_not_found")
    assert c.get("/budgets", b.owner).json()["data"] == []
    assert c.get(f"/budgets/{budget}", a.viewer).json()["limit_usd"] == "12"


def test_budgets_belong_to_a_tenant_through_their_scope(world: World) -> None:
    w, a, b = world, world.a, world.b
    c = w.c
    dep = c.post("/departments", a.owner, json={"name": "research"}).json()["id"]
    user_id = a.member_id
    mine = [
        {"scope": "tenant", "scope_id": a.id},
        {"scope": "key", "scope_id": a.admin_key["id"]},
        {"scope": "user", "scope_id": user_id},
        {"scope": "department", "scope_id": dep},
    ]
    ids = set()
    for scope in mine:
        r = c.post("/budgets", a.admin, json={**scope, "limit_usd": "3"})
        assert r.status_code == 201, r.text
        ids.add(r.json()["id"])
    # another tenant's objects are not found; scopes that span tenants are the master key's alone
    for scope in (
        {"scope": "tenant", "scope_id": b.id},
        {"scope": "key", "scope_id": b.admin_key["id"]},
        {"scope": "user", "scope_id": "usr_nobody"},
    ):
        assert_error(c.post("/budgets", a.owner, json={**scope, "limit_usd": "3"}), 404)
    for scope_name in ("model", "provider", "end_user"):
        r = c.post("/budgets", a.owner, json={"scope": scope_name, "scope_id": "x", "limit_usd": "3"})
        assert_error(r, 403, "permission_denied")
    # a model no call of any test uses: the database is shared with later tests, and a budget on `demo` would
    # hold (and, on a dead Redis, refuse) their calls
    model = f"scoping-only-{uuid.uuid4().hex[:8]}"
    model_budget = c.post("/budgets", MASTER, json={"scope": "model", "scope_id": model, "limit_usd": "3"})
    assert model_budget.status_code == 201
    b_budget = c.post("/budgets", b.owner, json={"scope": "key", "scope_id": b.admin_key["id"], "limit_usd": "3"})
    assert b_budget.status_code == 201
    for who in (a.owner, a.viewer):
        assert {x["id"] for x in c.get("/budgets", who).json()["data"]} == ids
    assert {x["id"] for x in c.get("/budgets", b.owner).json()["data"]} == {b_budget.json()["id"]}
    assert {x["id"] for x in c.get("/budgets", MASTER, params={"tenant": a.id}).json()["data"]} == ids
    every = {x["id"] for x in c.get("/budgets", MASTER).json()["data"]}
    assert ids | {model_budget.json()["id"], b_budget.json()["id"]} <= every
    assert_error(c.get(f"/budgets/{model_budget.json()['id']}", a.owner), 404)


def test_budget_events_are_scoped_and_walked_by_cursor(world: World) -> None:
    w, a, b = world, world.a, world.b
    c = w.c
    a_budget = c.post("/budgets", a.owner, json={"scope": "tenant", "scope_id": a.id, "limit_usd": "10"}).json()
    a_other = c.post("/budgets", a.owner, json={"scope": "key", "scope_id": a.admin_key["id"], "limit_usd": "1"})
    b_budget = c.post("/budgets", b.owner, json={"scope": "tenant", "scope_id": b.id, "limit_usd": "10"}).json()
    start = datetime(2031, 1, 1, tzinfo=UTC)
    events = [
        {
            "budget_id": budget,
            "period_start": start + timedelta(days=i),
            "threshold": Decimal("0.5"),
            "spend_usd": Decimal("5.25"),
            "created_at": start + timedelta(days=i, hours=1),
        }
        for i, budget in enumerate([a_budget["id"]] * 9 + [a_other.json()["id"]] * 2 + [b_budget["id"]] * 3)
    ]
    _db(w.db, lambda conn: conn.execute(insert(budget_events), events))

    def listed(headers: dict[str, str], path: str = "/budgets/events", limit: int = 2, **extra: str) -> list[Any]:
        return walk(lambda params: c.get(path, headers, params={**params, **extra}), limit)

    seen = listed(a.viewer)
    assert len(seen) == 11 and len({e["id"] for e in seen}) == 11
    assert [e["id"] for e in seen] == sorted((e["id"] for e in seen), reverse=True)  # newest first
    assert {e["budget_id"] for e in seen} == {a_budget["id"], a_other.json()["id"]}
    first = seen[-1]
    assert first["spend_usd"] == "5.25" and first["threshold"] == "0.5" and first["percent"] == "50"
    assert first["scope"] == "tenant" and first["limit_usd"] == "10"
    assert len(listed(a.owner, f"/budgets/{a_budget['id']}/events", 4)) == 9
    foreign = c.get("/budgets/events", a.owner, params={"budget_id": b_budget["id"]})
    assert_error(foreign, 404, "budget_not_found")  # another tenant's budget, as a missing one
    assert {e["budget_id"] for e in listed(b.owner)} == {b_budget["id"]}
    assert len(listed(MASTER, tenant=a.id)) == 11
    assert_error(c.get("/budgets/events", a.owner, params={"tenant": b.id}), 404)
    assert_error(c.get("/budgets/events", a.owner, params={"cursor": "e30"}), 400, "invalid_cursor")


def test_keys_users_and_audit_walk_by_cursor(world: World) -> None:
    w, a = world, world.a
    c = w.c
    for i in range(5):
        c.new_key(a.owner, name=f"k{i}")
    for _ in range(2):
        c.new_user(a.id, "viewer")
    by_offset = c.get("/api-keys", a.owner, params={"limit": 1000}).json()["data"]
    keys = walk(lambda params: c.get("/api-keys", a.owner, params=params), 3)
    assert [k["id"] for k in keys] == [k["id"] for k in by_offset] and len(keys) == 9  # 5 + 3 roles + the member's
    assert c.get("/api-keys", a.owner, params={"limit": 3, "offset": 3}).json()["data"] == by_offset[3:6]
    users = walk(lambda params: c.get("/users", a.viewer, params=params), 1)
    assert len(users) == 3 and len({u["id"] for u in users}) == 3 and {u["tenant_id"] for u in users} == {a.id}
    audit = walk(lambda params: c.get("/audit", a.admin, params=params), 5)
    ids = [e["id"] for e in audit]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    assert ids == [e["id"] for e in c.get("/audit", a.admin, params={"limit": 1000}).json()["data"]]
    assert {e["tenant_id"] for e in audit} == {a.id}
    for path in ("/api-keys", "/users", "/audit"):
        assert_error(c.get(path, a.owner, params={"cursor": "!!"}), 400, "invalid_cursor")
