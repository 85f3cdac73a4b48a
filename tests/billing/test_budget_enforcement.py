"""Issue 4 acceptance: budgets hold under concurrency, in one gateway and across two sharing Redis.

A budget that fits ten calls takes 50 concurrent ones: spend never passes the limit by more than one call's
estimate, the budget is not left unused, and every other call gets 429 `insufficient_quota`.
"""

from __future__ import annotations

import asyncio
import os
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import select

from oneflow_ai.billing.budget import config_budget_id
from oneflow_ai.pricing import TokenCounter
from oneflow_ai.store.tables import budget_events
from tests.billing.conftest import config, expected_cost, ledger_for, run_db
from tests.conftest import MASTER_KEY
from tests.fakes import openai_upstream as fake

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
REDIS_URL = os.environ.get("ONEFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
MESSAGES = [{"role": "user", "content": "hi"}]
MAX_TOKENS = 8
ONE_CALL = expected_cost("gpt-4o-mini", fake.PROMPT_TOKENS, fake.COMPLETION_TOKENS, 3)
LIMIT = 10 * ONE_CALL
ESTIMATE = expected_cost("gpt-4o-mini", TokenCounter(None).count_messages(MESSAGES), MAX_TOKENS)
"""What the gateway holds for one call before it is made: its prompt estimated without a tokenizer, `max_tokens`."""


def budget_yaml(tag: str) -> str:
    return f"budgets:\n  - {{scope: end_user, id: {tag}, period: daily, limit_usd: '{LIMIT}'}}\n"


async def burst(urls: list[str], tag: str, n: int = 50) -> list[httpx.Response]:
    body = {"model": "mini", "messages": MESSAGES, "user": tag, "max_tokens": MAX_TOKENS}
    async with httpx.AsyncClient(headers=AUTH, timeout=30, limits=httpx.Limits(max_connections=None)) as client:
        return await asyncio.gather(
            *(client.post(urls[i % len(urls)] + "/v1/chat/completions", json=body) for i in range(n))
        )


def check(responses: list[httpx.Response], database_url: str, tag: str) -> Decimal:
    ok = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    for r in refused:
        assert r.status_code == 429, r.text
        assert r.json()["error"]["code"] == "insufficient_quota" and r.json()["error"]["type"] == "insufficient_quota"
    rows = ledger_for(database_url, tag, expect=len(responses))
    spent = sum((r["cost_usd"] for r in rows), Decimal(0))
    assert spent == len(ok) * ONE_CALL
    assert spent <= LIMIT + ESTIMATE  # never past the budget by more than one call's estimate
    assert len(ok) >= LIMIT // max(ESTIMATE, ONE_CALL)  # and the budget is used, not refused early
    assert {r["status"] for r in rows} == {"ok", "rejected"} and sum(r["status"] == "rejected" for r in rows) == len(
        refused
    )
    return spent


def crossed(spent: Decimal) -> list[Decimal]:
    """The thresholds a budget of LIMIT crossed at `spent`: a call may hold the budget's rest (billing.periods.hold),
    so spend can reach the limit exactly."""
    return [t for t in (Decimal("0.5"), Decimal("0.8"), Decimal(1)) if spent >= LIMIT * t]


def threshold_events(database_url: str, tag: str, *, expect: int, wait_s: float = 30.0) -> list[Decimal]:
    """The thresholds recorded for this test's budget (written behind, so waited for)."""
    budget_id = config_budget_id("end_user", tag, "daily")

    async def fetch(conn: Any) -> list[Decimal]:
        query = select(budget_events.c.threshold).where(budget_events.c.budget_id == budget_id)
        return sorted(Decimal(t) for (t,) in await conn.execute(query))

    deadline = time.monotonic() + wait_s
    while True:
        found: list[Decimal] = run_db(database_url, fetch)
        if len(found) >= expect or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_budget_holds_under_concurrency(start_gateway: Any, openai_upstream: Any, database_url: str, tag: str) -> None:
    gw = start_gateway(config_yaml=config(openai_upstream[1].url, budget_yaml(tag)), database_url=database_url)
    spent = check(asyncio.run(burst([gw.url], tag)), database_url, tag)
    [b] = httpx.get(gw.url + "/api/v1/admin/budgets", headers=AUTH, params={"scope_id": tag}).json()["data"]
    assert Decimal(b["spent_usd"]) == spent and b["reserved_usd"] == "0"
    # 50% and 80% were crossed, each noted once; 100% too when the last call held the rest and spent it
    expected = crossed(spent)
    assert threshold_events(database_url, tag, expect=len(expected)) == expected


def test_spend_survives_a_restart(start_gateway: Any, openai_upstream: Any, database_url: str, tag: str) -> None:
    """Spend is loaded from the hourly aggregates at start-up: a restarted gateway refuses a spent budget."""
    yaml = config(openai_upstream[1].url, budget_yaml(tag))
    first = start_gateway(config_yaml=yaml, database_url=database_url)
    check(asyncio.run(burst([first.url], tag)), database_url, tag)
    first.stop()
    second = start_gateway(config_yaml=yaml, database_url=database_url)
    again = asyncio.run(burst([second.url], tag, n=5))
    assert [r.status_code for r in again] == [429] * 5


@pytest.fixture
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    return REDIS_URL


def test_two_gateways_sharing_redis_enforce_one_budget(
    start_gateway: Any, openai_upstream: Any, database_url: str, redis_url: str, tag: str, redis_leftovers: Any
) -> None:
    yaml = config(openai_upstream[1].url, budget_yaml(tag))
    a = start_gateway(config_yaml=yaml, database_url=database_url, redis_url=redis_url)
    [budget] = httpx.get(a.url + "/api/v1/admin/budgets", headers=AUTH, params={"scope_id": tag}).json()["data"]
    redis_leftovers(f"oneflow:budget:{{{budget['id']}:*")  # its counters
    b = start_gateway(config_yaml=yaml, database_url=database_url, redis_url=redis_url)
    responses = asyncio.run(burst([a.url, b.url], tag))
    spent = check(responses, database_url, tag)
    served_by = {r.url.port for r in responses if r.status_code == 200}
    refused_by = {r.url.port for r in responses if r.status_code == 429}
    assert refused_by == {a.port, b.port} and served_by  # both refused: they saw the same budget
    for gw in (a, b):
        [budget] = httpx.get(gw.url + "/api/v1/admin/budgets", headers=AUTH, params={"scope_id": tag}).json()["data"]
        assert abs(Decimal(budget["spent_usd"]) - spent) < Decimal("1e-8")  # Redis counts nano-dollars
    expected = crossed(spent)
    assert threshold_events(database_url, tag, expect=len(expected)) == expected  # once, not per replica


DEAD_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there


def test_budgets_with_redis_unreachable_fail_open_or_closed(
    start_gateway: Any, openai_upstream: Any, database_url: str, tag: str
) -> None:
    """A gateway whose budgets are counted in Redis starts while Redis is down (it was a start-up failure), and
    a call under a budget follows ONEFLOW_RATE_LIMIT_FAIL_MODE: served (open) or 503 (closed), never a 500;
    each has its ledger row."""
    yaml = config(openai_upstream[1].url, budget_yaml(tag))
    body = {"model": "mini", "messages": MESSAGES, "user": tag, "max_tokens": MAX_TOKENS}
    served = start_gateway(config_yaml=yaml, database_url=database_url, redis_url=DEAD_REDIS_URL)
    r = httpx.post(served.url + "/v1/chat/completions", headers=AUTH, json=body, timeout=30)
    assert r.status_code == 200, r.text
    closed = start_gateway(
        config_yaml=yaml,
        database_url=database_url,
        redis_url=DEAD_REDIS_URL,
        env={"ONEFLOW_RATE_LIMIT_FAIL_MODE": "closed"},
    )
    refused = httpx.post(closed.url + "/v1/chat/completions", headers=AUTH, json=body, timeout=30)
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "budget_store_unavailable"
    assert refused.headers["retry-after"] == "1"
    rows = ledger_for(database_url, tag, expect=2)
    assert sorted((row["status"], row["http_status"]) for row in rows) == [("ok", 200), ("rejected", 503)]
