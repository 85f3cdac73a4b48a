"""Issue 20, must-have 3: events reach webhooks. The real gateway over HTTP (SQLite and PostgreSQL) delivers to
a local receiver: signed, retried after a 500, every attempt in the delivery log; budget thresholds and a
breaker opening are delivered; the SSRF guard refuses loopback unless the endpoint allows it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from oneflow_ai.events.signing import HEADER, verify
from oneflow_ai.store.tables import event_outbox, webhook_jobs
from tests.billing.conftest import config, run_db
from tests.billing.test_budget_enforcement import LIMIT, MAX_TOKENS, MESSAGES
from tests.conftest import MASTER_KEY
from tests.fakes.runner import AiohttpServer
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.identity.conftest import Client, assert_error, identity_env

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
SECRET = "whsec-test-" + "s" * 20
FAST = "webhook_delivery: {backoff_base_s: 0.05, backoff_cap_s: 0.2, tick_s: 0.05, breaker_dedup_s: 0.5}\n"


@pytest.fixture
def receiver() -> Iterator[tuple[WebhookReceiver, str]]:
    r = WebhookReceiver()
    server = AiohttpServer(r.app)
    yield r, server.url
    server.stop()


def hooks(url: str, events: str = "['*']", allow_private: bool = True, extra: str = "") -> str:
    return (
        f"webhooks:\n  - {{url: '{url}', secret: env:HOOK_SECRET, events: {events}, "
        f"allow_private: {str(allow_private).lower()}{extra}}}\n{FAST}"
    )


def env() -> dict[str, str]:
    return identity_env(HOOK_SECRET=SECRET)


def wait(what: Callable[[], Any], timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (got := what()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return got


def deliveries(url: str, event_id: str, n: int) -> list[dict[str, Any]]:
    def fetch() -> list[dict[str, Any]] | None:
        r = httpx.get(url + "/api/v1/admin/webhooks/deliveries", headers=AUTH, params={"event_id": event_id})
        assert r.status_code == 200, r.text
        rows: list[dict[str, Any]] = r.json()["data"]
        return rows if len(rows) >= n else None

    return sorted(wait(fetch) or [], key=lambda d: d["attempt"])


def jobs_of(database_url: str, endpoint_id: str) -> int:
    async def fetch(conn: Any) -> int:
        query = select(func.count()).select_from(webhook_jobs).where(webhook_jobs.c.endpoint_id == endpoint_id)
        return int((await conn.execute(query)).scalar() or 0)

    n: int = run_db(database_url, fetch)
    return n


def outbox_key_ids(database_url: str, since: datetime) -> list[str]:
    """The key ids of the `key.created` events in the outbox since `since` (a shared database holds others')."""

    async def fetch(conn: Any) -> list[str]:
        query = (
            select(event_outbox.c.data)
            .where(event_outbox.c.type == "key.created", event_outbox.c.created_at >= since)
            .order_by(event_outbox.c.id)
        )
        return [orjson.loads(d)["key_id"] for (d,) in await conn.execute(query)]

    ids: list[str] = run_db(database_url, fetch)
    return ids


def verified(body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    assert verify(SECRET, headers[HEADER], body, now=time.time()), headers
    event: dict[str, Any] = orjson.loads(body)
    return event


def test_key_created_is_signed_retried_after_a_500_and_logged(
    start_gateway: Any, database_url: str, receiver: tuple[WebhookReceiver, str]
) -> None:
    r, url = receiver
    r.statuses = [500]
    gw = start_gateway(config_yaml=hooks(url + "/hook", "['key.created']"), env=env(), database_url=database_url)
    key = Client(gw.url).new_key(name="hooked")
    got = r.wait_for(2)
    assert len(got) == 2
    first, second = (verified(g.body, g.headers) for g in got)
    assert first == second  # the same event, sent again
    assert set(first) == {"id", "type", "created_at", "tenant", "data"}
    assert first["type"] == "key.created" and first["data"]["key_id"] == key["id"]
    assert datetime.fromisoformat(first["created_at"]).utcoffset() == timedelta(0)  # UTC, with its offset
    assert got[0].headers["x-oneflow-event-id"] == first["id"]
    log = deliveries(gw.url, first["id"], 2)
    assert [(d["attempt"], d["status"], d["http_status"]) for d in log] == [(1, "error", 500), (2, "ok", 200)]
    assert log[0]["error"] == "HTTP 500" and log[1]["url"] == url + "/hook"
    # a refused creation (no such tenant) writes no event (it would be in the outbox when the answer comes)
    assert_error(Client(gw.url).post("/api-keys", AUTH, json={"name": "x", "tenant_id": "ten_nope"}), 404)
    after = Client(gw.url).new_key(name="after")
    assert outbox_key_ids(database_url, since=datetime.fromisoformat(first["created_at"])) == [key["id"], after["id"]]
    got = r.wait_for(3)
    assert verified(got[2].body, got[2].headers)["data"]["key_id"] == after["id"]


def test_slack_format_rotation_and_revocation(
    start_gateway: Any, database_url: str, receiver: tuple[WebhookReceiver, str]
) -> None:
    r, url = receiver
    yaml = hooks(url + "/slack", "['key.rotated', 'key.revoked']", extra=", format: slack")
    gw = start_gateway(config_yaml=yaml, env=env(), database_url=database_url)
    c = Client(gw.url)
    key = c.new_key(name="to-rotate")  # key.created: not subscribed
    rotated = c.post(f"/api-keys/{key['id']}/rotate", AUTH, json={"grace_period_s": 0})
    assert rotated.status_code == 201, rotated.text
    [got] = r.wait_for(1)
    body = verified(got.body, got.headers)
    assert set(body) == {"text"} and "key.rotated" in body["text"] and key["id"] in body["text"]
    assert c.delete(f"/api-keys/{rotated.json()['id']}", AUTH).status_code == 200
    got = r.wait_for(2)
    body = verified(got[1].body, got[1].headers)
    assert "key.revoked" in body["text"] and rotated.json()["id"] in body["text"]
    assert [g.headers["x-oneflow-event"] for g in got] == ["key.rotated", "key.revoked"]


def test_budget_threshold_is_delivered(
    start_gateway: Any, openai_upstream: Any, database_url: str, receiver: tuple[WebhookReceiver, str]
) -> None:
    r, url = receiver
    tag = f"t-{uuid.uuid4().hex[:12]}"
    budget = f"budgets:\n  - {{scope: end_user, id: {tag}, period: daily, limit_usd: '0.01', thresholds: ['0.0001']}}\n"
    yaml = config(openai_upstream[1].url, budget) + hooks(url, "['budget.threshold_crossed', 'quota.exhausted']")
    gw = start_gateway(config_yaml=yaml, env=env(), database_url=database_url)
    body = {"model": "mini", "messages": [{"role": "user", "content": "hi"}], "user": tag}
    assert httpx.post(gw.url + "/v1/chat/completions", headers=AUTH, json=body, timeout=30).status_code == 200
    [got] = r.wait_for(1)
    event = verified(got.body, got.headers)
    assert event["type"] == "budget.threshold_crossed"
    d = event["data"]
    assert (d["scope"], d["scope_id"], d["limit_usd"], d["threshold"]) == ("end_user", tag, "0.01", "0.0001")
    assert Decimal(d["spend_usd"]) > 0


def test_quota_exhausted_is_delivered(
    start_gateway: Any, openai_upstream: Any, database_url: str, receiver: tuple[WebhookReceiver, str]
) -> None:
    """Calls one after another until the budget refuses them: its first refusal is `quota.exhausted`, once per
    period however many calls it refuses."""
    r, url = receiver
    tag = f"t-{uuid.uuid4().hex[:12]}"
    budget = f"budgets:\n  - {{scope: end_user, id: {tag}, period: daily, limit_usd: '{LIMIT}', thresholds: [1]}}\n"
    yaml = config(openai_upstream[1].url, budget) + hooks(url, "['quota.exhausted']")
    gw = start_gateway(config_yaml=yaml, env=env(), database_url=database_url)
    body = {"model": "mini", "messages": MESSAGES, "user": tag, "max_tokens": MAX_TOKENS}
    statuses = [
        httpx.post(gw.url + "/v1/chat/completions", headers=AUTH, json=body, timeout=30).status_code for _ in range(14)
    ]
    assert statuses[-1] == 429, statuses
    [got] = r.wait_for(1)
    event = verified(got.body, got.headers)
    assert event["type"] == "quota.exhausted" and event["data"]["scope_id"] == tag
    assert Decimal(event["data"]["limit_usd"]) == LIMIT
    assert statuses.count(429) >= 2
    time.sleep(0.3)
    assert len(r.received) == 1


def test_breaker_opening_is_delivered(
    start_gateway: Any, openai_upstream: Any, database_url: str, receiver: tuple[WebhookReceiver, str]
) -> None:
    r, url = receiver
    routing = "routing: {max_attempts: 1, breaker: {min_requests: 100, consecutive_failures: 2, cooldown_s: 60}}\n"
    yaml = config(openai_upstream[1].url, routing=routing) + hooks(url, "['breaker.opened', 'breaker.closed']")
    gw = start_gateway(config_yaml=yaml, env=env(), database_url=database_url)
    body = {"model": "broken", "messages": [{"role": "user", "content": "hi"}]}
    statuses = [
        httpx.post(gw.url + "/v1/chat/completions", headers=AUTH, json=body, timeout=30).status_code for _ in range(4)
    ]
    assert statuses[-1] == 503, statuses  # the breaker is open
    [got] = r.wait_for(1)
    event = verified(got.body, got.headers)
    assert event["type"] == "breaker.opened" and event["data"]["deployment_id"] == "broken/0"
    time.sleep(0.3)
    assert len(r.received) == 1  # opened once, not once per refused call
    health = httpx.get(gw.url + "/api/v1/admin/routing/health", headers=AUTH).json()
    assert health["shared"] is False  # reported breakers, but this process's own (no Redis)


def test_ssrf_guard_refuses_loopback_unless_allowed(
    start_gateway: Any, database_url: str, receiver: tuple[WebhookReceiver, str]
) -> None:
    r, url = receiver
    yaml = hooks(url, "['key.created']", allow_private=False).replace(FAST, FAST.replace("{", "{max_attempts: 2, "))
    gw = start_gateway(config_yaml=yaml, env=env(), database_url=database_url)
    c = Client(gw.url)
    c.new_key(name="guarded")

    def refused() -> list[dict[str, Any]] | None:
        got = httpx.get(gw.url + "/api/v1/admin/webhooks/deliveries", headers=AUTH).json()["data"]
        rows = [d for d in got if d["url"] == url]  # a shared PostgreSQL holds other tests' deliveries
        return rows if len(rows) >= 2 else None

    rows = wait(refused)
    assert rows and {d["status"] for d in rows} == {"refused"} and "127.0.0.1" in rows[0]["error"]
    assert r.received == []
    # through the API: a tenant's admin may not name a loopback address, nor allow private ones
    tenant = c.new_tenant("hooks")
    _, owner = c.new_user(tenant, "owner")
    token = {"authorization": f"Bearer {owner}"}
    assert_error(c.post("/webhooks", token, json={"url": "http://127.0.0.1:9/x"}), 400)
    assert_error(c.post("/webhooks", token, json={"url": url, "allow_private": True}), 403)
    made = c.post("/webhooks", token, json={"url": "https://hooks.example.com/x", "events": ["key.created"]})
    assert made.status_code == 201, made.text
    assert made.json()["secret"].startswith("whsec_") and made.json()["tenant_id"] == tenant
    listed = c.get("/webhooks", token).json()["data"]
    assert [w["id"] for w in listed] == [made.json()["id"]] and "secret" not in listed[0]
    other = c.new_tenant("other")
    _, stranger = c.new_user(other, "owner")
    assert c.get("/webhooks", {"authorization": f"Bearer {stranger}"}).json()["data"] == []
    assert_error(c.delete(f"/webhooks/{made.json()['id']}", {"authorization": f"Bearer {stranger}"}), 404)
    assert c.delete(f"/webhooks/{made.json()['id']}", token).status_code == 200
    audited = c.get("/audit", token, params={"limit": 50}).json()["data"]
    assert [(a["action"], a["target_id"]) for a in audited if a["target_type"] == "webhook"] == [
        ("webhook.delete", made.json()["id"]),
        ("webhook.create", made.json()["id"]),
    ]


def test_api_endpoint_allowed_private_by_the_superuser_receives_its_tenant_events(
    start_gateway: Any, database_url: str, receiver: tuple[WebhookReceiver, str]
) -> None:
    r, url = receiver
    gw = start_gateway(config_yaml=FAST, env=env(), database_url=database_url)
    c = Client(gw.url)
    tenant = c.new_tenant("acme")
    made = c.post("/webhooks", AUTH, json={"url": url + "/t", "tenant_id": tenant, "allow_private": True})
    assert made.status_code == 201, made.text
    c.new_key(name="elsewhere")  # the default tenant's: not delivered to this endpoint
    key = c.new_key(name="mine", tenant_id=tenant)
    [got] = r.wait_for(1)
    assert verify(made.json()["secret"], got.headers[HEADER], got.body, now=time.time())
    assert orjson.loads(got.body)["data"]["key_id"] == key["id"]
    # the other tenant's event got no job for this endpoint (jobs are made before any is delivered)
    assert jobs_of(database_url, made.json()["id"]) == 1


def test_guardrail_block_is_delivered(
    start_gateway: Any, openai_upstream: Any, database_url: str, receiver: tuple[WebhookReceiver, str]
) -> None:
    r, url = receiver
    dep = f"provider: openai, base_url: '{openai_upstream[1].url}/v1', api_key: env:UPSTREAM_KEY, model: gpt-4o-mini"
    yaml = f"models:\n  - {{name: guarded, guardrails: [default], deployments: [{{{dep}}}]}}\n" + hooks(
        url, "['guardrail.blocked']"
    )
    gw = start_gateway(config_yaml=yaml, env=env(), database_url=database_url)
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
    body = {"model": "guarded", "messages": [{"role": "user", "content": f"store this:\n{pem}"}]}
    blocked = httpx.post(gw.url + "/v1/chat/completions", headers=AUTH, json=body, timeout=30)
    assert_error(blocked, 400, "content_blocked")
    [got] = r.wait_for(1)
    event = verified(got.body, got.headers)
    assert event["type"] == "guardrail.blocked"
    assert event["data"]["request_id"] == blocked.headers["x-request-id"]
    assert event["data"]["guardrail"] == "default:PRIVATE_KEY" and event["data"]["model"] == "guarded"
    assert "MIIEvQ" not in got.body.decode()  # never the value found


def test_a_breaker_opened_on_two_replicas_is_one_event(
    start_gateway: Any, openai_upstream: Any, database_url: str, receiver: tuple[WebhookReceiver, str]
) -> None:
    """Two replicas sharing the database and Redis both see the deployment fail at once (each may open its own
    breaker before it hears of the other's): the webhook hears of one opening."""
    import asyncio

    import redis

    r, url = receiver
    name = f"sick-{uuid.uuid4().hex[:8]}"  # this test's own deployment id in the shared Redis
    dep = f"provider: openai, base_url: '{openai_upstream[1].url}/v1', api_key: env:UPSTREAM_KEY, model: fake-error-500"
    routing = "routing: {max_attempts: 1, breaker: {min_requests: 100, consecutive_failures: 2, cooldown_s: 60}}\n"
    yaml = f"models:\n  - {{name: {name}, deployments: [{{{dep}}}]}}\n{routing}" + hooks(url, "['breaker.opened']")
    replicas = [
        start_gateway(config_yaml=yaml, env=env(), database_url=database_url, redis_url="redis://127.0.0.1:6379/0")
        for _ in range(2)
    ]

    async def fail_everywhere() -> list[int]:
        body = {"model": name, "messages": [{"role": "user", "content": "hi"}]}
        async with httpx.AsyncClient(headers=AUTH, timeout=30) as client:
            answers = await asyncio.gather(
                *(client.post(gw.url + "/v1/chat/completions", json=body) for gw in replicas for _ in range(3))
            )
        return [a.status_code for a in answers]

    try:
        asyncio.run(fail_everywhere())
        got = r.wait_for(1)
        assert [verified(g.body, g.headers)["data"]["deployment_id"] for g in got] == [f"{name}/0"]
        time.sleep(0.5)  # a second report, were there one, would be delivered by now
        assert len(r.received) == 1
    finally:
        shared = redis.Redis.from_url("redis://127.0.0.1:6379/0")
        shared.hdel("oneflow:breakers", f"{name}/0")
        shared.delete(f"oneflow:events:once:breaker.opened:{name}/0")
        shared.close()
