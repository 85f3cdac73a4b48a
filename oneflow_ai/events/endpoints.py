"""Webhook endpoints: the config file's (`webhooks:`) and those tenants make through the admin API."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import RowMapping, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.events.config import WebhookConfig
from oneflow_ai.events.event import Event, wants
from oneflow_ai.store.tables import webhook_endpoints


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    url: str
    secret: str
    events: tuple[str, ...]
    tenant: str | None
    format: str
    allow_private: bool
    created_at: datetime | None = None

    def takes(self, event: Event) -> bool:
        return wants(self.events, event.type) and (self.tenant is None or self.tenant == event.tenant)


def from_config(webhooks: Sequence[WebhookConfig], environ: Mapping[str, str]) -> list[Endpoint]:
    return [
        Endpoint(f"config-{i}", w.url, w.resolve_secret(environ), w.events, w.tenant, w.format, w.allow_private)
        for i, w in enumerate(webhooks)
    ]


def _endpoint(row: RowMapping) -> Endpoint:
    return Endpoint(
        row["id"],
        row["url"],
        row["secret"],
        tuple(row["events"].split(",")),
        row["tenant_id"],
        row["format"],
        bool(row["allow_private"]),
        row["created_at"],
    )


class Endpoints:
    def __init__(self, engine: AsyncEngine, configured: list[Endpoint]) -> None:
        self.engine = engine
        self.configured = configured

    async def all(self) -> list[Endpoint]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(webhook_endpoints))).mappings().all()
        return [*self.configured, *(_endpoint(r) for r in rows)]

    async def of_tenant(self, tenant: str | None) -> list[Endpoint]:
        """The API's endpoints of `tenant` (None: every tenant's); config endpoints are not listed."""
        query = select(webhook_endpoints).order_by(webhook_endpoints.c.created_at)
        if tenant is not None:
            query = query.where(webhook_endpoints.c.tenant_id == tenant)
        async with self.engine.connect() as conn:
            return [_endpoint(r) for r in (await conn.execute(query)).mappings().all()]

    async def add(
        self, tenant: str | None, url: str, events: tuple[str, ...], fmt: str, allow_private: bool, now: datetime
    ) -> Endpoint:
        e = Endpoint(
            "wh_" + uuid.uuid4().hex[:24],
            url,
            "whsec_" + secrets.token_hex(24),
            events,
            tenant,
            fmt,
            allow_private,
            now,
        )
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(webhook_endpoints).values(
                    id=e.id,
                    tenant_id=tenant,
                    url=url,
                    secret=e.secret,
                    events=",".join(events),
                    format=fmt,
                    allow_private=allow_private,
                    created_at=now,
                )
            )
        return e

    async def remove(self, tenant: str | None, endpoint_id: str) -> bool:
        query = delete(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
        if tenant is not None:
            query = query.where(webhook_endpoints.c.tenant_id == tenant)
        async with self.engine.begin() as conn:
            return bool((await conn.execute(query)).rowcount)
