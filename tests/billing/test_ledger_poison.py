"""Issue 14 #1 acceptance, on PostgreSQL through the real app over HTTP.

- 1,000 calls, one of them carrying a value the database refuses, leave 999 ledger rows and one dead letter,
  and the gateway keeps serving and recording. The edge now refuses a bad `user`, so the poison comes from
  where the edge cannot look: an upstream model whose name is longer than the ledger's `served_model` column
  (the served model is what the upstream's answer says). Before the fix the batch holding it failed forever and
  no row was written again.
- While the ledger cannot write (its table gone), `/ready` answers 503 and every record waits; once it can
  again, they land and `/ready` is back to 200.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, text

from oneflow_ai.store.tables import ledger_dead_letters
from tests.billing.conftest import config, ledger_for, run_db
from tests.conftest import MASTER_KEY

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
N = 1000
POISONED_AT = 500
LONG_MODEL = "m" * 200  # the ledger keeps 128 characters of a served model


def with_odd_model(upstream_url: str) -> str:
    dep = f"provider: openai, base_url: '{upstream_url}/v1', api_key: env:UPSTREAM_KEY"
    base = config(upstream_url)
    head, routing = base.split("routing:", 1)
    return f"{head}  - {{name: odd, deployments: [{{{dep}, model: {LONG_MODEL}}}]}}\nrouting:{routing}"


def dead_letters(database_url: str, request_id: str) -> list[dict[str, Any]]:
    async def fetch(conn: Any) -> list[dict[str, Any]]:
        mine = select(ledger_dead_letters).where(ledger_dead_letters.c.request_id == request_id)
        return [dict(r._mapping) for r in await conn.execute(mine)]

    result: list[dict[str, Any]] = run_db(database_url, fetch)
    return result


def metric(url: str, name: str) -> float:
    scraped = httpx.get(url + "/metrics").text
    return sum(s.value for f in text_string_to_metric_families(scraped) for s in f.samples if s.name == name)


def wait_until(check: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


async def calls(url: str, tag: str) -> list[httpx.Response]:
    gate = asyncio.Semaphore(32)

    async def one(client: httpx.AsyncClient, i: int) -> httpx.Response:
        model = "odd" if i == POISONED_AT else "mini"
        async with gate:
            return await client.post(
                "/v1/chat/completions",
                json={"model": model, "user": tag, "messages": [{"role": "user", "content": "hi"}]},
            )

    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30) as client:
        return await asyncio.gather(*(one(client, i) for i in range(N)))


def test_one_poisoned_record_among_1000_calls_leaves_999_rows_and_one_dead_letter(
    start_gateway: Any, openai_upstream: Any, postgres_url: str, tag: str
) -> None:
    gw = start_gateway(config_yaml=with_odd_model(openai_upstream[1].url), database_url=postgres_url)
    replies = asyncio.run(calls(gw.url, tag))
    assert [r.status_code for r in replies] == [200] * N
    poisoned = replies[POISONED_AT].headers["x-request-id"]

    rows = ledger_for(postgres_url, tag, expect=N - 1)
    assert len(rows) == N - 1
    assert poisoned not in {r["request_id"] for r in rows}
    assert {r["request_id"] for r in rows} == {r.headers["x-request-id"] for r in replies} - {poisoned}
    assert wait_until(lambda: len(dead_letters(postgres_url, poisoned)) == 1)
    letter = dead_letters(postgres_url, poisoned)[0]
    kept = orjson.loads(letter["record"])
    assert kept["served_model"] == LONG_MODEL and kept["end_user"] == tag and "too long" in letter["error"]
    assert metric(gw.url, "ledger_dead_letter_total") == 1

    # the gateway keeps serving, and recording
    after = httpx.post(
        gw.url + "/v1/chat/completions",
        headers=AUTH,
        json={"model": "mini", "user": tag, "messages": [{"role": "user", "content": "again"}]},
    )
    assert after.status_code == 200
    assert after.headers["x-request-id"] in {r["request_id"] for r in ledger_for(postgres_url, tag, expect=N)}
    ready = httpx.get(gw.url + "/ready")
    assert ready.status_code == 200 and ready.json()["checks"]["ledger"] == "ok"


def test_ready_is_503_while_the_ledger_cannot_write_and_no_record_is_lost(
    start_gateway: Any, openai_upstream: Any, postgres_url: str, tag: str
) -> None:
    gw = start_gateway(config_yaml=config(openai_upstream[1].url), database_url=postgres_url)

    def sql(statement: str) -> None:
        async def run(conn: Any) -> None:
            await conn.execute(text(statement))
            await conn.commit()

        run_db(postgres_url, run)

    def chat() -> httpx.Response:
        body = {"model": "mini", "user": tag, "messages": [{"role": "user", "content": "hi"}]}
        return httpx.post(gw.url + "/v1/chat/completions", headers=AUTH, json=body)

    sql("ALTER TABLE usage_records RENAME TO usage_records_away")
    try:
        served = [chat() for _ in range(5)]
        assert all(r.status_code == 200 for r in served)
        assert wait_until(lambda: httpx.get(gw.url + "/ready").status_code == 503)
        ready = httpx.get(gw.url + "/ready").json()
        assert ready["checks"]["database"] == "ok" and ready["checks"]["ledger"].startswith("error")
        assert metric(gw.url, "ledger_writable") == 0 and metric(gw.url, "ledger_dead_letter_total") == 0
    finally:
        sql("ALTER TABLE usage_records_away RENAME TO usage_records")
    assert wait_until(lambda: httpx.get(gw.url + "/ready").status_code == 200)
    rows = ledger_for(postgres_url, tag, expect=len(served))
    assert {r["request_id"] for r in rows} == {r.headers["x-request-id"] for r in served}


@pytest.fixture(autouse=True)
def _no_leftover_rename(postgres_url: str) -> Any:
    yield
    run_db(postgres_url, _restore)


async def _restore(conn: Any) -> None:
    away = await conn.execute(text("SELECT to_regclass('usage_records_away') IS NOT NULL"))
    if away.scalar():
        await conn.execute(text("ALTER TABLE usage_records_away RENAME TO usage_records"))
        await conn.commit()
