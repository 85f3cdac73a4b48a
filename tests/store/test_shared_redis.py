"""Issue 14 #6: the gateway's shared Redis client under load (real Redis, the real app over HTTP).

Its pool is bounded and callers queue for a connection, so a burst wider than the pool is served, not failed:
300 concurrent calls on a spent budget are 300 x 429 `insufficient_quota` with 300 ledger rows, and 300
concurrent idempotent calls all succeed.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from oneflow_ai.app import create_app
from oneflow_ai.billing.budget import config_budget_id
from oneflow_ai.settings import Settings
from oneflow_ai.store.redis_pool import shared_redis
from tests.billing.conftest import config, ledger_for
from tests.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.fakes.hooked_app import HookedApp
from tests.fakes.runner import UvicornServer

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
REDIS_URL = os.environ.get("ONEFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BURST = 300
LIMIT_USD = "0.00001"  # spent by the first call or two


@pytest.fixture
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    return REDIS_URL


@pytest.fixture
def tag() -> str:
    """A unique end-user id: it marks this test's ledger rows and Redis keys."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def redis_keys(redis_url: str) -> Iterator[list[str]]:
    """Keys (or patterns, with `*`) this test's gateway writes to the shared Redis; deleted afterwards."""
    written: list[str] = []
    yield written
    client = redis.Redis.from_url(redis_url)
    exact = [k for k in written if "*" not in k]
    for i in range(0, len(exact), 500):
        client.delete(*exact[i : i + 500])
    for pattern in (k for k in written if "*" in k):
        for key in client.scan_iter(match=pattern, count=1000):
            client.delete(key)
    client.close()


def chat(tag: str, **headers: str) -> tuple[dict[str, str], dict[str, Any]]:
    body = {"model": "mini", "messages": [{"role": "user", "content": "hi"}], "user": tag, "max_tokens": 8}
    return {**AUTH, **headers}, body


async def burst(url: str, requests: list[tuple[dict[str, str], dict[str, Any]]]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        return await asyncio.gather(
            *(client.post(url + "/v1/chat/completions", headers=h, json=b) for h, b in requests)
        )


def test_a_burst_on_a_spent_budget_is_refused_and_recorded(
    start_gateway: Any, openai_upstream: Any, database_url: str, redis_url: str, redis_keys: list[str], tag: str
) -> None:
    budget = f"budgets:\n  - {{scope: end_user, id: {tag}, period: daily, limit_usd: '{LIMIT_USD}'}}\n"
    redis_keys.append(f"oneflow:budget:{{{config_budget_id('end_user', tag, 'daily')}:*")
    gw = start_gateway(
        config_yaml=config(openai_upstream[1].url, budget), database_url=database_url, redis_url=redis_url
    )
    spending = 0
    while httpx.post(gw.url + "/v1/chat/completions", headers=chat(tag)[0], json=chat(tag)[1]).status_code == 200:
        spending += 1  # until the budget refuses (one call spends it)
        assert spending < 10
    responses = asyncio.run(burst(gw.url, [chat(tag) for _ in range(BURST)]))
    assert [(r.status_code, r.json()["error"]["code"]) for r in responses] == [(429, "insufficient_quota")] * BURST
    ids = {r.headers["x-request-id"] for r in responses}
    rows = [r for r in ledger_for(database_url, tag, expect=spending + 1 + BURST) if r["request_id"] in ids]
    assert len(rows) == BURST and {(r["status"], r["http_status"]) for r in rows} == {("rejected", 429)}


def test_a_burst_of_idempotent_calls_is_served(
    start_gateway: Any, openai_upstream: Any, database_url: str, redis_url: str, redis_keys: list[str], tag: str
) -> None:
    keys = [f"{tag}-{i}" for i in range(BURST)]
    for key in keys:  # the store scopes a key to its caller: here the master key (no tenant)
        scoped = hashlib.sha256(f"None\0master\0{key}".encode()).hexdigest()
        redis_keys += [f"oneflow:idempotency:done:{scoped}", f"oneflow:idempotency:lock:{scoped}"]
    # The burst must queue for the pool's connections, not fail: the wait is generous because the client, the
    # gateway and the fake upstream share one interpreter here, and on a slow machine the queue outlasts 5 s.
    gw = start_gateway(
        config_yaml=config(openai_upstream[1].url),
        database_url=database_url,
        redis_url=redis_url,
        redis_pool_timeout_s=60.0,
    )
    responses = asyncio.run(burst(gw.url, [chat(tag, **{"idempotency-key": k}) for k in keys]))
    assert [r.status_code for r in responses] == [200] * BURST, {r.text for r in responses if r.status_code != 200}
    assert len(ledger_for(database_url, tag, expect=BURST)) == BURST
    again = asyncio.run(burst(gw.url, [chat(tag, **{"idempotency-key": k}) for k in keys[:3]]))
    assert [r.headers.get("idempotent-replayed") for r in again] == ["true"] * 3


async def hold_every_connection(state: dict[str, Any]) -> None:
    """Take every connection of the shared client's pool and keep them: as if Redis had stopped answering."""
    pool = state["gateway"].redis.connection_pool
    held = state.setdefault("held by the test", [])
    while True:
        try:
            held.append(await pool.get_connection())
        except redis.ConnectionError:  # the pool's wait ran out: all are ours (or the breakers' subscription's)
            return


def test_when_the_shared_client_cannot_get_a_connection(
    openai_upstream: Any, database_url: str, redis_url: str, redis_keys: list[str], tag: str, tmp_path: Path
) -> None:
    """A refusal is still the documented 429 (only its message lacks what is left), recorded; an idempotent call is
    the documented 503 `idempotency_store_unavailable`, not a 500."""
    budget = f"budgets:\n  - {{scope: end_user, id: {tag}, period: daily, limit_usd: '{LIMIT_USD}'}}\n"
    redis_keys.append(f"oneflow:budget:{{{config_budget_id('end_user', tag, 'daily')}:*")
    (tmp_path / "config.yaml").write_text(config(openai_upstream[1].url, budget))
    settings = Settings(
        config_path=str(tmp_path / "config.yaml"),
        data_dir=tmp_path / "data",
        master_key=MASTER_KEY,
        database_url=database_url,
        redis_url=redis_url,
        redis_max_connections=3,
        redis_pool_timeout_s=0.2,
        ledger_interval_s=0.05,
    )
    hooks = {"/_test/hold-redis": hold_every_connection}
    server = UvicornServer(lambda: HookedApp(create_app(settings, {"UPSTREAM_KEY": UPSTREAM_KEY}), hooks))
    try:
        url = server.url + "/v1/chat/completions"
        first = 1
        while httpx.post(url, headers=chat(tag)[0], json=chat(tag)[1]).status_code == 200:
            first += 1  # until the budget refuses (one call spends it)
        assert httpx.post(server.url + "/_test/hold-redis").status_code == 204
        refused = [httpx.post(url, headers=chat(tag)[0], json=chat(tag)[1]) for _ in range(3)]
        assert [(r.status_code, r.json()["error"]["code"]) for r in refused] == [(429, "insufficient_quota")] * 3
        assert "has no room for this request" in refused[0].json()["error"]["message"]
        ids = {r.headers["x-request-id"] for r in refused}
        rows = [r for r in ledger_for(database_url, tag, expect=first + len(ids)) if r["request_id"] in ids]
        assert len(rows) == 3 and {(r["status"], r["http_status"]) for r in rows} == {("rejected", 429)}
        headers, body = chat(tag, **{"idempotency-key": f"{tag}-held"})
        r = httpx.post(url, headers=headers, json={**body, "user": f"{tag}-other"})
        assert (r.status_code, r.json()["error"]["code"]) == (503, "idempotency_store_unavailable")
    finally:
        server.stop()


def test_the_pool_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="ONEFLOW_REDIS_MAX_CONNECTIONS"):
        shared_redis(REDIS_URL, max_connections=0, wait_s=1.0)
    with pytest.raises(ValueError, match="ONEFLOW_REDIS_POOL_TIMEOUT_S"):
        shared_redis(REDIS_URL, max_connections=1, wait_s=0)
    client = shared_redis(REDIS_URL, max_connections=7, wait_s=1.0)
    assert client.connection_pool.max_connections == 7
