"""The background dispatcher: fans new outbox events out into delivery jobs (one per endpoint that wants the
event), then delivers due jobs: a signed POST, a row in the delivery log per attempt, and on failure a retry
after an exponential backoff with jitter, until `max_attempts`. At least once: a receiver deduplicates by the
event's `id`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import RowMapping, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.events import payloads, queue, signing, ssrf
from oneflow_ai.events.backoff import delay_s
from oneflow_ai.events.config import DeliverySettings
from oneflow_ai.events.endpoints import Endpoint, Endpoints
from oneflow_ai.events.outbox import stored
from oneflow_ai.events.sender import post
from oneflow_ai.store.dialects import upsert_dialect
from oneflow_ai.store.tables import event_outbox, webhook_deliveries, webhook_jobs

log = logging.getLogger("oneflow.webhooks")

Poster = Callable[..., Awaitable[int]]
PRUNE_EVERY = timedelta(hours=1)


class Dispatcher:
    def __init__(
        self,
        engine: AsyncEngine,
        endpoints: Endpoints,
        settings: DeliverySettings,
        *,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        rand: Callable[[], float] = random.random,
        send: Poster = post,
    ) -> None:
        self._engine = engine
        self._endpoints = endpoints
        self._settings = settings
        self._wall = wall
        self._rand = rand
        self._send = send
        dialect = upsert_dialect(engine.dialect.name)
        self._insert_job = dialect.insert(webhook_jobs).on_conflict_do_nothing(
            index_elements=["event_id", "endpoint_id"]
        )
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="oneflow-webhooks")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        pruned = self._wall() - PRUNE_EVERY
        while True:
            try:
                if self._wall() - pruned >= PRUNE_EVERY:
                    pruned = self._wall()
                    await self.prune()
                await self.step()
            except Exception:
                log.exception("webhook dispatch failed; trying again in %ss", self._settings.tick_s)
            await asyncio.sleep(self._settings.tick_s)

    async def step(self) -> None:
        """One round: fan out what is new, deliver what is due."""
        await self.fan_out()
        await self.deliver_due()

    async def prune(self) -> None:
        """Forget what is older than `retention_days`: fanned-out events, finished jobs, delivery log rows."""
        before = self._wall() - timedelta(days=self._settings.retention_days)
        async with self._engine.begin() as conn:
            await conn.execute(delete(event_outbox).where(event_outbox.c.fanned_at < before))
            await conn.execute(delete(webhook_jobs).where(webhook_jobs.c.done_at < before))
            await conn.execute(delete(webhook_deliveries).where(webhook_deliveries.c.finished_at < before))

    async def fan_out(self) -> None:
        rows = await queue.new_events(self._engine, self._wall())
        if not rows:
            return
        endpoints = await self._endpoints.all()
        now = self._wall()
        async with self._engine.begin() as conn:
            for row in rows:
                event = stored(row)
                for e in endpoints:
                    if e.takes(event):
                        await conn.execute(self._insert_job.values(event_id=event.id, endpoint_id=e.id, next_at=now))
            await conn.execute(
                update(event_outbox)
                .where(event_outbox.c.id.in_([r["id"] for r in rows]))
                .values(fanned_at=now, claim=None, claimed_until=None)
            )

    async def deliver_due(self) -> None:
        jobs = await queue.due_jobs(self._engine, self._wall())
        if not jobs:
            return
        endpoints = {e.id: e for e in await self._endpoints.all()}
        ids = list({j["event_id"] for j in jobs})
        async with self._engine.connect() as conn:
            found = await conn.execute(select(event_outbox).where(event_outbox.c.event_id.in_(ids)))
            events = {r["event_id"]: stored(r) for r in found.mappings().all()}
        await asyncio.gather(
            *(self._attempt(j, endpoints.get(j["endpoint_id"]), events.get(j["event_id"])) for j in jobs)
        )

    async def _attempt(self, job: RowMapping, endpoint: Endpoint | None, event: Any) -> None:
        attempt = job["attempts"] + 1
        if endpoint is None or event is None:  # the endpoint was removed since: nothing to deliver to
            await self._finish(job, attempt, "gone", None, "endpoint or event no longer exists", self._wall(), None)
            return
        started = self._wall()
        body = payloads.body(event, endpoint.format)
        headers = {
            "content-type": "application/json",
            "user-agent": "OneFlow-Webhooks/1",
            "x-oneflow-event": event.type,
            "x-oneflow-event-id": event.id,
            signing.HEADER: signing.signature(endpoint.secret, body, int(started.timestamp())),
        }
        status, http_status, error = "ok", None, None
        try:
            http_status = await self._send(
                endpoint.url, body, headers, allow_private=endpoint.allow_private, timeout_s=self._settings.timeout_s
            )
            if not 200 <= http_status < 300:
                status, error = "error", f"HTTP {http_status}"
        except ssrf.Refused as e:
            status, error = "refused", str(e)
        except (OSError, TimeoutError) as e:
            status, error = "error", f"{type(e).__name__}: {e}"[:500]
        await self._finish(job, attempt, status, http_status, error, started, (endpoint, event))

    async def _finish(
        self,
        job: RowMapping,
        attempt: int,
        status: str,
        http_status: int | None,
        error: str | None,
        started: datetime,
        target: tuple[Endpoint, Any] | None,
    ) -> None:
        now = self._wall()
        s = self._settings
        values: dict[str, Any] = {"attempts": attempt, "claim": None, "claimed_until": None}
        if status == "ok":
            values.update(status="delivered", done_at=now)
        elif status == "gone" or attempt >= s.max_attempts:
            values.update(status="failed", done_at=now)
        else:
            wait = delay_s(attempt, s.backoff_base_s, s.backoff_cap_s, self._rand())
            values.update(next_at=now + timedelta(seconds=wait))
        async with self._engine.begin() as conn:
            if target is not None:
                endpoint, event = target
                await conn.execute(
                    insert(webhook_deliveries).values(
                        event_id=event.id,
                        event_type=event.type,
                        endpoint_id=endpoint.id,
                        tenant_id=endpoint.tenant if endpoint.tenant is not None else event.tenant,
                        url=endpoint.url,
                        attempt=attempt,
                        status=status,
                        http_status=http_status,
                        error=error,
                        started_at=started,
                        finished_at=now,
                    )
                )
            await conn.execute(update(webhook_jobs).where(webhook_jobs.c.id == job["id"]).values(**values))
        if status != "ok":
            log.warning(
                "webhook %s to %s: attempt %d %s (%s)", job["event_id"], job["endpoint_id"], attempt, status, error
            )
