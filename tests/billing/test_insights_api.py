"""`GET /api/v1/admin/insights` over real HTTP, on SQLite and PostgreSQL: the numbers of a seeded ledger exactly,
confined to the caller's tenant.

The expected costs are computed here from the catalog file as written (`conftest.expected_cost`), never by the
pricing engine, and the ledger's side is read back from `usage_records` itself."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from oneflow_ai.store.db import create_engine, migrate
from oneflow_ai.store.ledger import Ledger, UsageRecord
from oneflow_ai.store.tables import usage_records
from tests.billing.conftest import CATALOG, MILLION
from tests.conftest import GatewayFactory
from tests.identity.conftest import MASTER, Client, assert_error, bearer, identity_env

CREDITS_PER_USD = Decimal(100)
PRICES = yaml.safe_load(CATALOG.read_text())["models"]


def expected_cost(model: str, inp: int, out: int, cached: int = 0) -> Decimal:
    """The cost at the catalog's prices as the file writes them (embedding models have no output price)."""
    entry = PRICES[model]
    rate = {k: Decimal(entry.get(k) or 0) / MILLION for k in ("input_per_million", "output_per_million")}
    cached_rate = Decimal(entry.get("cached_input_per_million") or entry["input_per_million"]) / MILLION
    return (inp - cached) * rate["input_per_million"] + cached * cached_rate + out * rate["output_per_million"]


def config(url: str) -> str:
    dep = f"provider: openai, base_url: '{url}/v1', api_key: env:UPSTREAM_KEY"
    return "models:\n" + "".join(
        f"  - {{name: {name}, mode: {mode}, deployments: [{{{dep}, model: {model}}}]}}\n"
        for name, model, mode in [
            ("big", "gpt-4o", "chat"),  # quality 0.85, $2.50 / $10 / cached $1.25 per M
            ("cheap", "gpt-5-mini", "chat"),  # 0.88, $0.25 / $2 / cached $0.025
            ("o4", "o4-mini", "chat"),  # 0.88, $1.10 / $4.40 / cached $0.275
            ("worse", "gpt-4.1-nano", "chat"),  # 0.62: never an alternative to gpt-4o
            ("emb", "text-embedding-3-large", "embedding"),  # 0.85, $0.13
        ]
    )


@dataclass
class World:
    client: Client
    database_url: str
    acme: str
    beta: str
    ci: dict[str, Any]
    batch: dict[str, Any]
    beta_key: dict[str, Any]
    viewer: dict[str, str]
    member: dict[str, str]
    beta_admin: dict[str, str]
    records: list[UsageRecord]


def rec(
    key: dict[str, Any], tenant: str, model: str, inp: int, out: int, cached: int, at: datetime, **kw: Any
) -> UsageRecord:
    usd = expected_cost(model, inp, out, cached) if kw.get("provider", "openai") != "cache" else Decimal(0)
    return UsageRecord(
        request_id=f"ins-{uuid.uuid4().hex}",
        created_at=at,
        endpoint=kw.pop("endpoint", "chat"),
        requested_model=kw.pop("requested", {"gpt-4o": "big", "text-embedding-3-large": "emb"}.get(model, model)),
        status="ok",
        http_status=200,
        cost_usd=usd,
        credits=usd * CREDITS_PER_USD,
        usage_source="upstream",
        key_id=key["id"],
        tenant_id=tenant,
        served_model=model,
        provider=kw.pop("provider", "openai"),
        input_tokens=inp,
        output_tokens=out,
        cached_tokens=cached,
        **kw,
    )


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


def ledger_sum(database_url: str, ids: list[str]) -> tuple[Decimal, Decimal, int, int, int]:
    """What the ledger itself holds for these records: (cost_usd, credits, input, output, cached) sums."""

    async def go() -> Any:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                c = usage_records.c
                row = (
                    await conn.execute(
                        select(
                            func.sum(c.cost_usd),
                            func.sum(c.credits),
                            func.sum(c.input_tokens),
                            func.sum(c.output_tokens),
                            func.sum(c.cached_tokens),
                        ).where(c.request_id.in_(ids))
                    )
                ).one()
                return row
        finally:
            await engine.dispose()

    usd, credits, i, o, cached = asyncio.run(go())
    exact = not database_url.startswith("sqlite")
    as_dec = (lambda v: Decimal(v)) if exact else (lambda v: Decimal(repr(float(v))))
    return as_dec(usd), as_dec(credits), int(i), int(o), int(cached)


@pytest.fixture
def world(start_gateway: GatewayFactory, database_url: str, openai_upstream: Any) -> Iterator[World]:
    _, upstream = openai_upstream
    c = Client(start_gateway(config(upstream.url), database_url=database_url, env=identity_env()).url)
    acme, beta = c.new_tenant("acme"), c.new_tenant("beta")
    ci = c.new_key(MASTER, name="ci", tenant_id=acme)
    batch = c.new_key(MASTER, name="batch", tenant_id=acme)
    beta_key = c.new_key(MASTER, name="beta-ci", tenant_id=beta)
    _, viewer = c.new_user(acme, "viewer")
    _, member = c.new_user(acme, "member")
    _, beta_admin = c.new_user(beta, "admin")
    now = datetime.now(UTC)
    records = [
        rec(ci, acme, "gpt-4o", 1_200_000, 300_000, 200_000, now - timedelta(hours=1)),
        rec(ci, acme, "gpt-4o", 800_000, 100_000, 0, now - timedelta(days=12)),
        rec(ci, acme, "gpt-4o", 5_000, 1_000, 0, now - timedelta(days=29, hours=20)),
        rec(ci, acme, "gpt-4o", 9_999_999, 9_999_999, 0, now - timedelta(days=40)),  # before the 30 days
        rec(ci, acme, "gpt-4o", 700_000, 70_000, 0, now - timedelta(hours=2), provider="cache"),  # a cache hit
        rec(batch, acme, "gpt-4o", 100_000, 50_000, 10_000, now - timedelta(days=3)),
        rec(batch, acme, "gpt-4.1-nano", 400_000, 40_000, 0, now - timedelta(days=3)),
        rec(batch, acme, "text-embedding-3-large", 3_000_000, 0, 0, now - timedelta(days=1), endpoint="embeddings"),
        rec(beta_key, beta, "gpt-4o", 50_000, 5_000, 0, now - timedelta(days=2)),
    ]
    seed(database_url, records)
    yield World(
        c, database_url, acme, beta, ci, batch, beta_key, bearer(viewer), bearer(member), bearer(beta_admin), records
    )


def money(v: Decimal) -> str:
    text = format(v.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def check_alternative(alt: dict[str, Any], model: str, inp: int, out: int, cached: int, paid: Decimal) -> None:
    cost = expected_cost(model, inp, out, cached)
    assert alt["model"] == model
    assert alt["cost_usd"] == money(cost) and alt["cost_credits"] == money(cost * CREDITS_PER_USD)
    assert alt["saved_usd"] == money(paid - cost)
    assert alt["saved_credits"] == money((paid - cost) * CREDITS_PER_USD)
    assert alt["saved_per_30_days_usd"] == alt["saved_usd"]  # the range is 30 days


def test_insights_match_the_seeded_ledger_exactly(world: World) -> None:
    r = world.client.get("/insights", world.viewer)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["scope"] == "routable" and body["days"] == "30" and body["tenant"] == world.acme
    counted = world.records[:3]  # ci's gpt-4o calls in the range (not the old one, not the cache hit)
    usd, credits, inp, out, cached = ledger_sum(world.database_url, [x.request_id for x in counted])
    assert (inp, out, cached) == (2_005_000, 401_000, 200_000)
    ci = next(i for i in body["by_key"] if i["key"] == world.ci["id"] and i["model"] == "gpt-4o")
    assert ci["key_name"] == "ci" and ci["requests"] == 3
    assert (ci["input_tokens"], ci["output_tokens"], ci["cached_tokens"]) == (inp, out, cached)
    assert ci["cost_usd"] == money(usd) and ci["cost_credits"] == money(credits)
    assert usd == expected_cost("gpt-4o", inp, out, cached)
    # gpt-5-mini (0.88) and o4-mini (0.88) are cheaper and better; gpt-4.1-nano (0.62) is cheaper but worse
    assert [a["model"] for a in ci["alternatives"]] == ["gpt-5-mini", "o4-mini"]
    assert [a["routes"] for a in ci["alternatives"]] == [["cheap"], ["o4"]]
    check_alternative(ci["alternatives"][0], "gpt-5-mini", inp, out, cached, usd)
    check_alternative(ci["alternatives"][1], "o4-mini", inp, out, cached, usd)
    saved = (usd - expected_cost("gpt-5-mini", inp, out, cached)) * CREDITS_PER_USD
    assert ci["suggestion"] == (
        f"moving key `ci` from gpt-4o to gpt-5-mini (model `cheap` here) would have saved "
        f"{money(saved.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP))} credits in the last 30 days"
    )
    # per model: ci's and batch's gpt-4o together; beta's never
    b = world.records[5]
    by_model = {i["model"]: i for i in body["by_model"]}
    total = (inp + b.input_tokens, out + b.output_tokens, cached + b.cached_tokens)
    assert (
        by_model["gpt-4o"]["input_tokens"],
        by_model["gpt-4o"]["output_tokens"],
        by_model["gpt-4o"]["cached_tokens"],
    ) == total
    assert by_model["gpt-4o"]["requests"] == 4 and by_model["gpt-4o"]["cost_usd"] == money(usd + b.cost_usd)
    check_alternative(by_model["gpt-4o"]["alternatives"][0], "gpt-5-mini", *total, usd + b.cost_usd)
    assert by_model["gpt-4.1-nano"]["alternatives"] == []  # nothing configured is cheaper
    assert by_model["text-embedding-3-large"]["alternatives"] == []  # no other embedding model is routable here
    assert {(i["key"], i["model"]) for i in body["by_key"]} == {
        (world.ci["id"], "gpt-4o"),
        (world.batch["id"], "gpt-4o"),
        (world.batch["id"], "gpt-4.1-nano"),
        (world.batch["id"], "text-embedding-3-large"),
    }


def test_catalog_scope_compares_with_every_catalog_model(world: World) -> None:
    body = world.client.get("/insights", world.viewer, params={"scope": "catalog", "key": world.batch["id"]}).json()
    emb = next(i for i in body["by_key"] if i["model"] == "text-embedding-3-large")
    # embed-v4.0 (0.85, $0.12 per M) is the only embedding model as good and cheaper; it is not routable here
    assert [(a["model"], a["routes"]) for a in emb["alternatives"]] == [("embed-v4.0", [])]
    check_alternative(
        emb["alternatives"][0], "embed-v4.0", 3_000_000, 0, 0, expected_cost("text-embedding-3-large", 3_000_000, 0, 0)
    )
    gpt4o = next(i for i in body["by_key"] if i["model"] == "gpt-4o")
    names = [a["model"] for a in gpt4o["alternatives"]]
    assert {"gpt-5-mini", "o4-mini", "gemini-2.5-flash"} - set(names) == {"gemini-2.5-flash"}  # 0.84 < 0.85
    assert "gpt-4.1-nano" not in names and "gpt-4o" not in names and "text-embedding-3-small" not in names
    assert all(i["key"] == world.batch["id"] for i in body["by_key"])


def test_insights_are_confined_to_the_callers_tenant(world: World) -> None:
    beta = world.client.get("/insights", world.beta_admin).json()
    assert [(i["key"], i["requests"]) for i in beta["by_key"]] == [(world.beta_key["id"], 1)]
    assert beta["tenant"] == world.beta
    assert_error(world.client.get("/insights", world.beta_admin, params={"tenant": world.acme}), 404)
    everyone = world.client.get("/insights", MASTER).json()
    # every tenant's (the PostgreSQL database is shared by the session's tests: others' keys may be there too)
    assert {i["key"] for i in everyone["by_key"]} >= {world.ci["id"], world.batch["id"], world.beta_key["id"]}
    one = world.client.get("/insights", MASTER, params={"tenant": world.beta}).json()
    assert {i["key"] for i in one["by_key"]} == {world.beta_key["id"]}
    assert_error(world.client.get("/insights", world.member), 403)
    assert_error(world.client.get("/insights"), 401)


def test_ranges_and_bad_input(world: World) -> None:
    now = datetime.now(UTC)
    start = (now - timedelta(days=13)).replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(days=3)
    body = world.client.get(
        "/insights", world.viewer, params={"start": start.isoformat(), "end": end.isoformat()}
    ).json()
    (ci,) = body["by_key"]  # only ci's call of 12 days ago
    assert ci["requests"] == 1 and ci["input_tokens"] == 800_000
    # three days: the saving is projected to 30 days (x 10)
    assert body["days"] == "3"
    saved = Decimal(ci["alternatives"][0]["saved_usd"])
    assert saved * 10 == Decimal(ci["alternatives"][0]["saved_per_30_days_usd"])
    week = world.client.get("/insights", world.viewer, params={"days": 7}).json()
    assert {i["requests"] for i in week["by_key"] if i["key"] == world.ci["id"]} == {1}
    for params in (
        {"scope": "everything"},
        {"days": 0},
        {"days": 400},
        {"start": "yesterday", "end": "now"},
        {"start": now.isoformat()},
        {"days": 3, "start": now.isoformat(), "end": now.isoformat()},
        {"start": now.isoformat(), "end": (now - timedelta(days=1)).isoformat()},
        {"key": "a\x00b"},
    ):
        assert_error(world.client.get("/insights", world.viewer, params=params), 400)
