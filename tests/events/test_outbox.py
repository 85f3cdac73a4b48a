"""The outbox against a real database (SQLite and PostgreSQL): an event is written in its change's transaction;
two dispatchers (two replicas) deliver each job once; a failed delivery waits its backoff on the injected clock;
an event reported by two replicas sharing Redis is written once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.events import outbox
from oneflow_ai.events.config import DeliverySettings
from oneflow_ai.events.dispatcher import Dispatcher
from oneflow_ai.events.emitter import Emitter
from oneflow_ai.events.endpoints import Endpoint, Endpoints
from oneflow_ai.events.event import Event
from oneflow_ai.identity import audit
from oneflow_ai.identity.tables import audit_log
from oneflow_ai.store.db import create_engine, migrate
from oneflow_ai.store.tables import event_outbox, webhook_deliveries, webhook_jobs

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    e = create_engine(database_url)
    await migrate(e)
    async with e.begin() as conn:  # a shared PostgreSQL: start from an empty queue
        for t in (webhook_deliveries, webhook_jobs, event_outbox):
            await conn.execute(delete(t))
    yield e
    await e.dispose()


async def count(engine: AsyncEngine, table: Any, *where: Any) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table).where(*where))).scalar() or 0)


async def test_an_event_is_written_only_with_its_change(engine: AsyncEngine) -> None:
    key_id = "key_" + uuid.uuid4().hex[:12]
    actor = audit.Actor(None, None)
    with pytest.raises(RuntimeError):
        async with engine.begin() as conn:
            await audit.record(conn, actor, "api_key.create", tenant_id="t", target_id=key_id)
            raise RuntimeError("the change fails after its audit entry was written")
    assert await count(engine, event_outbox) == 0
    assert await count(engine, audit_log, audit_log.c.target_id == key_id) == 0
    async with engine.begin() as conn:
        await audit.record(conn, actor, "api_key.create", tenant_id="t", target_id=key_id)
        await audit.record(conn, actor, "api_key.update", tenant_id="t", target_id=key_id)  # not an event
    assert await count(engine, event_outbox, event_outbox.c.type == "key.created") == 1
    assert await count(engine, event_outbox) == 1


def endpoints(engine: AsyncEngine, n: int = 2) -> Endpoints:
    return Endpoints(
        engine, [Endpoint(f"e{i}", f"https://h{i}.example/x", "s", ("*",), None, "generic", False) for i in range(n)]
    )


async def test_two_dispatchers_deliver_each_job_once(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for i in range(30):
            await outbox.write(conn, Event("key.created", None, {"key_id": f"k{i}"}, T0))
    sent: list[tuple[str, bytes]] = []

    async def send(url: str, body: bytes, headers: dict[str, str], **_: Any) -> int:
        sent.append((url, body))
        await asyncio.sleep(0)  # let the other replica run meanwhile
        return 200

    eps = endpoints(engine)
    replicas = [Dispatcher(engine, eps, DeliverySettings(), wall=lambda: T0, send=send) for _ in range(2)]
    for _ in range(3):
        await asyncio.gather(*(d.step() for d in replicas))
    assert len(sent) == 60 and len(set(sent)) == 60  # 30 events x 2 endpoints, none twice
    assert await count(engine, webhook_deliveries, webhook_deliveries.c.status == "ok") == 60
    assert await count(engine, webhook_jobs, webhook_jobs.c.status == "delivered") == 60


async def test_a_failed_delivery_waits_its_backoff_then_gives_up(engine: AsyncEngine) -> None:
    now = [T0]
    async with engine.begin() as conn:
        await outbox.write(conn, Event("breaker.opened", None, {"deployment_id": "d"}, T0))
    calls: list[datetime] = []

    async def send(url: str, body: bytes, headers: dict[str, str], **_: Any) -> int:
        calls.append(now[0])
        raise OSError("connection refused")

    settings = DeliverySettings(max_attempts=3, backoff_base_s=10, backoff_cap_s=100)
    d = Dispatcher(engine, endpoints(engine, 1), settings, wall=lambda: now[0], rand=lambda: 0.999, send=send)
    await d.step()
    assert len(calls) == 1
    now[0] = T0 + timedelta(seconds=9.9)  # the first retry is due after ~10 s
    await d.step()
    assert len(calls) == 1
    now[0] = T0 + timedelta(seconds=10.1)
    await d.step()
    assert len(calls) == 2
    now[0] = T0 + timedelta(seconds=50)  # then ~20 s later; the third attempt is the last
    await d.step()
    now[0] = T0 + timedelta(seconds=500)
    await d.step()
    assert len(calls) == 3
    assert await count(engine, webhook_jobs, webhook_jobs.c.status == "failed") == 1
    assert await count(engine, webhook_deliveries, webhook_deliveries.c.status == "error") == 3


async def test_one_event_from_two_replicas_sharing_redis(engine: AsyncEngine, redis_prefix: str) -> None:
    redis = Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        replicas = [Emitter(engine, redis, prefix=redis_prefix) for _ in range(2)]
        for e in replicas:
            e.start()
        for e in replicas:  # the same breaker opened on both
            e.emit(Event("breaker.opened", None, {"deployment_id": "d"}, T0, dedup_key="breaker.opened:d"))
        for e in replicas:
            await e.close()
        assert sum(e.written for e in replicas) == 1
        assert await count(engine, event_outbox, event_outbox.c.type == "breaker.opened") == 1
    finally:
        await redis.aclose()


async def test_prune_forgets_old_deliveries_only(engine: AsyncEngine) -> None:
    now = [T0]

    async def send(url: str, body: bytes, headers: dict[str, str], **_: Any) -> int:
        return 200

    settings = DeliverySettings(retention_days=30)
    d = Dispatcher(engine, endpoints(engine, 1), settings, wall=lambda: now[0], send=send)
    for at in (T0, T0 + timedelta(days=20)):
        now[0] = at
        async with engine.begin() as conn:
            await outbox.write(conn, Event("key.revoked", None, {"key_id": "k"}, at))
        await d.step()
    now[0] = T0 + timedelta(days=31)
    await d.prune()
    assert await count(engine, event_outbox) == 1
    assert await count(engine, webhook_jobs) == 1
    assert await count(engine, webhook_deliveries) == 1
