"""`/api/v1/admin/analytics/*` over real HTTP on SQLite and PostgreSQL: confined like the rest of the admin API
(owners, admins and viewers read their tenant, a member its own calls, the master key every tenant or the one it
names; another tenant answers 404), its figures those of the raw records, and bad input a clear 400."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from oneflow_ai.store.ledger import UsageRecord
from tests.billing.analytics_data import by, counted, seeded, write
from tests.conftest import GatewayFactory
from tests.identity.conftest import MASTER, Client, assert_error, bearer, identity_env

START = datetime(2032, 6, 1, 9, tzinfo=UTC)
RANGE = {"start": "2032-06-01T09:00:00Z", "end": "2032-06-03T09:00:00Z"}


def analytics(c: Client, path: str, headers: dict[str, str], **params: Any) -> httpx.Response:
    return c.get(f"/analytics/{path}", headers, params={**RANGE, **params})


def requests_of(r: httpx.Response) -> int:
    assert r.status_code == 200, r.text
    return int(r.json()["totals"]["requests"])


def test_each_caller_reads_its_own_tenant_only(start_gateway: GatewayFactory, database_url: str) -> None:
    c = Client(start_gateway(database_url=database_url, env=identity_env()).url)
    a, b = c.new_tenant("analytics-a"), c.new_tenant("analytics-b")
    member_id, member_token = c.new_user(a, "member")
    heads = {role: bearer(c.new_user(a, role)[1]) for role in ("owner", "admin", "viewer")}
    b_admin = bearer(c.new_user(b, "admin")[1])
    records = seeded(uuid.uuid4().hex[:8], START, hours=48, n=200, tenants=[a, b])
    for i, r in enumerate(records[:30]):  # some of A's calls are the member's
        if r.tenant_id == a and i % 3 == 0:
            r.user_id = member_id
    write(database_url, records)
    window = counted(records, START, START + timedelta(days=2))
    tenants: dict[Any, list[UsageRecord]] = by(window, lambda r: r.tenant_id)
    members = [r for r in window if r.user_id == member_id]
    assert members and len(tenants) == 2

    assert requests_of(analytics(c, "overview", MASTER)) == len(window)
    assert requests_of(analytics(c, "overview", MASTER, tenant=b)) == len(tenants[b])
    for role, h in heads.items():
        assert requests_of(analytics(c, "overview", h)) == len(tenants[a]), role
        assert requests_of(analytics(c, "overview", h, tenant=a)) == len(tenants[a]), role
        assert_error(analytics(c, "overview", h, tenant=b), 404, "not_found")
        assert_error(analytics(c, "series", h, tenant=b, group_by="model"), 404, "not_found")
        listed = analytics(c, "series", h, group_by="tenant", bucket="none").json()["groups"]
        assert [g["tenant"] for g in listed] == [a], role
    assert requests_of(analytics(c, "overview", b_admin)) == len(tenants[b])
    member = bearer(member_token)
    assert requests_of(analytics(c, "overview", member)) == len(members)
    users = analytics(c, "series", member, group_by="user", bucket="none").json()["groups"]
    assert [g["user"] for g in users] == [member_id]
    assert_error(c.get("/analytics/overview"), 401)


def test_the_series_answer_by_hour_and_by_day(start_gateway: GatewayFactory, database_url: str) -> None:
    c = Client(start_gateway(database_url=database_url, env=identity_env()).url)
    tenant = c.new_tenant("analytics-series")
    records = seeded(uuid.uuid4().hex[:8], START, hours=48, n=120, tenants=[tenant])
    write(database_url, records)
    window = counted(records, START, START + timedelta(days=2))
    models = by(window, lambda r: r.requested_model)

    hourly = analytics(c, "series", MASTER, tenant=tenant, group_by="model").json()  # 2 days: by hour
    assert hourly["bucket"] == "hour" and len(hourly["buckets"]) == 48
    assert {g["model"]: g["totals"]["requests"] for g in hourly["groups"]} == {m: len(rs) for m, rs in models.items()}
    for g in hourly["groups"]:
        assert sum(p["requests"] for p in g["points"]) == len(models[g["model"]])
    daily = analytics(c, "series", MASTER, tenant=tenant, group_by="provider", bucket="day").json()
    assert daily["buckets"] == ["2032-06-01", "2032-06-02", "2032-06-03"]  # 09:00 to 09:00
    assert sum(g["totals"]["requests"] for g in daily["groups"]) == len(window)
    assert analytics(c, "series", MASTER, tenant=tenant, limit=1, group_by="model").json()["rest"]["groups"] == 3
    week = c.get("/analytics/series", MASTER, params={"range": "7d", "end": RANGE["end"], "tenant": tenant}).json()
    assert week["bucket"] == "day" and week["buckets"][0] == "2032-05-28" and len(week["buckets"]) == 7
    assert week["start"] == "2032-05-28T00:00:00+00:00"  # 7 UTC days, the last one's first 9 hours
    assert week["groups"][0]["totals"]["requests"] == len(window)


def test_bad_input_is_a_clear_400(start_gateway: GatewayFactory, database_url: str) -> None:
    c = Client(start_gateway(database_url=database_url, env=identity_env()).url)
    for path, params, param in [
        ("series", {"group_by": "colour"}, "group_by"),
        ("series", {"bucket": "minute"}, "bucket"),
        ("series", {"bucket": "hour", "start": "2020-01-01T00:00:00Z"}, "bucket"),
        ("overview", {"start": "yesterday"}, "start"),
        ("overview", {"start": RANGE["end"], "end": RANGE["start"]}, "start"),
        ("overview", {"range": "1y"}, "range"),
        ("overview", {"range": "7d", "start": RANGE["start"]}, "range"),
    ]:
        body = assert_error(c.get(f"/analytics/{path}", MASTER, params=params), 400)
        assert body["error"]["param"] == param, (path, params, body)
    r = c.get("/analytics/overview", MASTER, params={"tenant": "bad\x00tenant"})
    assert r.status_code in (400, 422) and "Traceback" not in r.text
    assert_error(c.get("/analytics/series", MASTER, params={"limit": 0}), 400)
