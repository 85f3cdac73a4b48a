"""The experiments admin API and `POST /api/v1/feedback` over real HTTP, on SQLite and PostgreSQL: results per
variant equal, exactly, what the seeded ledger rows and feedback say; every caller confined to its tenant."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from oneflow_ai.store.db import create_engine, migrate
from oneflow_ai.store.ledger import Ledger, UsageRecord
from oneflow_ai.store.tables import feedback
from tests.conftest import GatewayFactory
from tests.identity.conftest import MASTER, Client, assert_error, bearer, identity_env

INR = Decimal(83)


def config(url: str) -> str:
    dep = f"provider: openai, base_url: '{url}/v1', api_key: env:UPSTREAM_KEY"
    return (
        "models:\n"
        f"  - {{name: chat, deployments: [{{{dep}, model: gpt-4o-mini}}]}}\n"
        f"  - {{name: big, deployments: [{{{dep}, model: gpt-4o}}]}}\n"
        f"  - {{name: emb, mode: embedding, deployments: [{{{dep}, model: text-embedding-3-small}}]}}\n"
        "experiments:\n"
        "  - {name: from-config, model: big, variants: [{name: a, model: big}, {name: b, model: chat, weight: 0}]}\n"
    )


@dataclass
class World:
    client: Client
    database_url: str
    acme: str
    beta: str
    acme_key: dict[str, Any]
    other_acme_key: dict[str, Any]
    beta_key: dict[str, Any]
    acme_admin: dict[str, str]
    acme_viewer: dict[str, str]
    beta_admin: dict[str, str]


@pytest.fixture
def world(start_gateway: GatewayFactory, database_url: str, openai_upstream: Any) -> Iterator[World]:
    _, upstream = openai_upstream
    c = Client(start_gateway(config(upstream.url), database_url=database_url, env=identity_env()).url)
    acme, beta = c.new_tenant("acme"), c.new_tenant("beta")
    _, admin = c.new_user(acme, "admin")
    _, viewer = c.new_user(acme, "viewer")
    _, beta_admin = c.new_user(beta, "admin")
    yield World(
        c,
        database_url,
        acme,
        beta,
        c.new_key(MASTER, name="app", tenant_id=acme),
        c.new_key(MASTER, name="other", tenant_id=acme),
        c.new_key(MASTER, name="beta-app", tenant_id=beta),
        bearer(admin),
        bearer(viewer),
        bearer(beta_admin),
    )
    # the PostgreSQL database is shared by the session's tests: end what this test started, so that no other
    # gateway on it splits its calls
    for e in c.get("/experiments", MASTER).json()["data"]:
        if e["source"] == "api" and e["status"] == "running":
            c.post(f"/experiments/{e['id']}/end", MASTER)


def seed(database_url: str, records: list[UsageRecord]) -> None:
    async def go() -> None:
        engine = create_engine(database_url)
        try:
            await migrate(engine)
            ledger = Ledger(engine)
            for r in records:
                ledger.record(r)
            await ledger.close()
        finally:
            await engine.dispose()

    asyncio.run(go())


def feedback_rows(database_url: str, ids: list[str]) -> dict[str, tuple[float, str | None, str | None]]:
    async def go() -> Any:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(select(feedback).where(feedback.c.request_id.in_(ids)))
                return {r.request_id: (r.score, r.comment, r.key_id) for r in rows}
        finally:
            await engine.dispose()

    found: dict[str, tuple[float, str | None, str | None]] = asyncio.run(go())
    return found


def rec(exp: str, variant: str, key: dict[str, Any], tenant: str, status: str, latency: float, usd: str) -> UsageRecord:
    return UsageRecord(
        request_id=f"exp-{uuid.uuid4().hex}",
        created_at=datetime.now(UTC) - timedelta(minutes=5),
        endpoint="chat",
        requested_model="chat",
        status=status,
        http_status=200 if status == "ok" else 502,
        cost_usd=Decimal(usd),
        credits=Decimal(usd) * 100,
        usage_source="upstream",
        key_id=key["id"],
        tenant_id=tenant,
        served_model="gpt-4o-mini" if variant == "a" else "gpt-4o",
        provider="openai",
        input_tokens=10,
        output_tokens=5,
        latency_ms=latency,
        experiment=exp,
        variant=variant,
    )


def post_feedback(w: World, creds: dict[str, str] | None, **body: Any) -> httpx.Response:
    return httpx.post(w.client.url + "/api/v1/feedback", headers=creds, json=body, timeout=30)


def expected(rows: list[UsageRecord], scores: dict[str, float]) -> dict[str, Any]:
    """A variant's results computed from its seeded rows, as the module's docstring defines them."""
    ok = sorted(r.latency_ms for r in rows if r.status == "ok" and r.latency_ms is not None)
    usd = sum((r.cost_usd for r in rows), Decimal(0))
    given = [scores[r.request_id] for r in rows if r.request_id in scores]
    errors = sum(r.status != "ok" for r in rows)
    return {
        "requests": len(rows),
        "errors": errors,
        "error_rate": errors / len(rows) if rows else None,
        "cost_usd": format(usd.normalize(), "f") if usd else "0",
        "credits": format((usd * 100).normalize(), "f") if usd else "0",
        "cost_inr": format((usd * INR).normalize(), "f") if usd else "0",
        "input_tokens": 10 * len(rows),
        "output_tokens": 5 * len(rows),
        "latency_ms_mean": sum(ok) / len(ok) if ok else None,
        "latency_ms_p95": ok[math.ceil(0.95 * len(ok)) - 1] if ok else None,
        "feedback": len(given),
        "score_mean": sum(given) / len(given) if given else None,
    }


def test_results_per_variant_match_the_seeded_ledger_and_feedback_exactly(world: World) -> None:
    w = world
    made = w.client.post(
        "/experiments",
        MASTER,
        json={
            "name": "mini-vs-4o",
            "model": "chat",
            "variants": [{"name": "a", "model": "chat"}, {"name": "b", "model": "big", "weight": 3}],
        },
    )
    assert made.status_code == 201, made.text
    exp = made.json()["id"]
    assert made.json()["tenant_id"] is None and made.json()["status"] == "running" and made.json()["source"] == "api"
    a = [rec(exp, "a", w.acme_key, w.acme, "ok", 100.0 * (i + 1), f"0.00{i + 1}") for i in range(20)]
    a += [rec(exp, "a", w.acme_key, w.acme, "upstream_error", 50.0, "0")]
    b = [
        rec(exp, "b", w.other_acme_key, w.acme, "ok", lat, usd)
        for lat, usd in ((150.5, "0.01"), (250.25, "0.02"), (1000.0, "0.000000000001"))
    ]
    b += [
        rec(exp, "b", w.other_acme_key, w.acme, "rejected", 1.0, "0"),
        rec(exp, "b", w.acme_key, w.acme, "ok", 400.0, "0.5"),
    ]
    beta = [
        rec(exp, "a", w.beta_key, w.beta, "ok", 5000.0, "1.25"),
        rec(exp, "b", w.beta_key, w.beta, "client_closed", 70.0, "0.75"),
    ]
    elsewhere = [rec("exp_other", "a", w.acme_key, w.acme, "ok", 1.0, "9")]
    seed(w.database_url, a + b + beta + elsewhere)

    scores: dict[str, float] = {}
    for r, key, score in [
        (a[0], w.acme_key, 1),
        (a[1], w.acme_key, 0),
        (b[0], w.other_acme_key, 0.5),
        (beta[0], w.beta_key, 4),
    ]:
        got = post_feedback(w, bearer(key["key"]), request_id=r.request_id, score=score, comment="ok")
        assert got.status_code == 200, got.text
        scores[r.request_id] = score
    # an owner or admin of the call's tenant may score it too; a second score replaces the first
    again = post_feedback(w, w.acme_admin, request_id=a[1].request_id, score=0.25)
    assert again.status_code == 200 and again.json()["score"] == 0.25
    scores[a[1].request_id] = 0.25
    stored = feedback_rows(w.database_url, [a[1].request_id, a[0].request_id])
    assert stored[a[1].request_id] == (0.25, None, w.acme_key["id"]) and stored[a[0].request_id] == (
        1.0,
        "ok",
        w.acme_key["id"],
    )

    everything = w.client.get(f"/experiments/{exp}/results", MASTER)
    assert everything.status_code == 200, everything.text
    got = {v["variant"]: v for v in everything.json()["variants"]}
    assert list(got) == ["a", "b"] and got["a"]["model"] == "chat" and got["b"]["model"] == "big"
    for name, rows in (("a", a + beta[:1]), ("b", b + beta[1:])):
        want = expected(rows, scores)
        assert {k: got[name][k] for k in want} == want, name

    acme = {v["variant"]: v for v in w.client.get(f"/experiments/{exp}/results", w.acme_viewer).json()["variants"]}
    for name, rows in (("a", a), ("b", b)):
        assert {k: acme[name][k] for k in expected(rows, scores)} == expected(rows, scores), name
    only_beta = {v["variant"]: v for v in w.client.get(f"/experiments/{exp}/results", w.beta_admin).json()["variants"]}
    assert only_beta["a"]["requests"] == 1 and only_beta["a"]["score_mean"] == 4 and only_beta["b"]["errors"] == 1


def test_feedback_is_for_the_calls_own_key_or_its_tenants_admins(world: World) -> None:
    w = world
    r = rec("exp_x", "a", w.acme_key, w.acme, "ok", 10.0, "0.1")
    seed(w.database_url, [r])
    for creds in (bearer(w.other_acme_key["key"]), bearer(w.beta_key["key"]), w.beta_admin, w.acme_viewer):
        assert_error(post_feedback(w, creds, request_id=r.request_id, score=1), 404, "not_found")
    assert_error(post_feedback(w, bearer(w.acme_key["key"]), request_id="chatcmpl-nope", score=1), 404, "not_found")
    assert_error(post_feedback(w, None, request_id=r.request_id, score=1), 401)
    for bad in (
        {"score": "good"},
        {"score": True},
        {"score": 1e300},
        {},
        {"score": 1, "extra": 1},
        {"score": 1, "comment": "x" * 5000},
    ):
        assert_error(post_feedback(w, bearer(w.acme_key["key"]), request_id=r.request_id, **bad), 400)
    assert post_feedback(w, MASTER, request_id=r.request_id, score=-1).status_code == 200
    assert feedback_rows(w.database_url, [r.request_id])[r.request_id][0] == -1


def test_experiments_are_made_ended_and_seen_by_their_tenant_only(world: World) -> None:
    w = world
    body = {"name": "t", "model": "chat", "variants": [{"name": "a", "model": "chat"}, {"name": "b", "model": "big"}]}
    mine = w.client.post("/experiments", w.acme_admin, json=body)
    assert mine.status_code == 201 and mine.json()["tenant_id"] == w.acme
    assert_error(w.client.post("/experiments", w.acme_admin, json=body), 409, "experiment_exists")
    assert w.client.post("/experiments", w.beta_admin, json=body).status_code == 201  # its own tenant's name
    assert_error(w.client.post("/experiments", w.acme_viewer, json=body), 403)
    assert_error(w.client.post("/experiments", w.acme_admin, json={**body, "tenant_id": w.beta}), 404)
    for bad in (
        {**body, "model": "nope"},
        {**body, "variants": [{"name": "a", "model": "chat"}, {"name": "b", "model": "emb"}]},  # another mode
        {**body, "variants": [{"name": "a", "model": "chat"}]},
        {**body, "variants": [{"name": "a", "model": "chat", "weight": 0}, {"name": "b", "model": "big", "weight": 0}]},
        {**body, "name": "no spaces please"},
        {**body, "name": "from-config", "variants": [{"name": "a", "model": "chat"}, {"name": "a", "model": "big"}]},
    ):
        assert_error(w.client.post("/experiments", MASTER, json=bad), 400)
    assert_error(w.client.post("/experiments", MASTER, json={**body, "name": "from-config"}), 409)

    listed = w.client.get("/experiments", w.acme_viewer).json()["data"]
    assert {e["tenant_id"] for e in listed} <= {w.acme, None}  # its own, and those for every tenant
    seen = {e["name"]: e for e in listed if e["tenant_id"] == w.acme or e["source"] == "config"}
    assert set(seen) == {"from-config", "t"} and seen["t"]["id"] == mine.json()["id"]
    assert seen["from-config"]["source"] == "config" and seen["from-config"]["id"] == "from-config"
    assert_error(w.client.get(f"/experiments/{mine.json()['id']}", w.beta_admin), 404)
    assert_error(w.client.get(f"/experiments/{mine.json()['id']}/results", w.beta_admin), 404)
    assert_error(w.client.post("/experiments/from-config/end", MASTER), 409, "experiment_read_only")
    assert_error(w.client.post(f"/experiments/{mine.json()['id']}/end", w.acme_viewer), 403)
    ended = w.client.post(f"/experiments/{mine.json()['id']}/end", w.acme_admin)
    assert ended.status_code == 200 and ended.json()["status"] == "ended" and ended.json()["ended_at"]
    glob = w.client.post("/experiments", MASTER, json={**body, "name": "everyone"}).json()
    assert_error(w.client.post(f"/experiments/{glob['id']}/end", w.acme_admin), 404)  # the master key's
    assert w.client.post(f"/experiments/{glob['id']}/end", MASTER).json()["status"] == "ended"
