"""Webhook endpoints: the config file's (`webhooks:`) and those tenants make through the admin API."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import RowMapping, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.events.config import WebhookConfig
from oneflow_ai.events.event import Event, wants
from oneflow_ai.identity import audit
from oneflow_ai.identity.audit import Actor
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
    """The config file's endpoints, each with an id made from its URL and tenant (the same on every replica and
    restart, so a job waiting for a retry finds its endpoint again)."""
    return [
        Endpoint(config_id(w), w.url, w.resolve_secret(environ), w.events, w.tenant, w.format, w.allow_private)
        for w in webhooks
    ]


def config_id(w: WebhookConfig) -> str:
    return "cfg_" + hashlib.sha256(f"{w.url}\0{w.tenant or ''}".encode()).hexdigest()[:20]


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
        self,
        tenant: str | None,
        url: str,
        events: tuple[str, ...],
        fmt: str,
        allow_private: bool,
        now: datetime,
        actor: Actor,
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
            detail = {"url": url, "events": list(events), "allow_private": allow_private}
            await audit.record(
                conn, actor, "webhook.create", tenant_id=tenant, target_type="webhook", target_id=e.id, detail=detail
            )
        return e

    async def remove(self, tenant: str | None, endpoint_id: str, actor: Actor) -> bool:
        query = delete(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
        if tenant is not None:
            query = query.where(webhook_endpoints.c.tenant_id == tenant)
        async with self.engine.begin() as conn:
            if not (await conn.execute(query)).rowcount:
                return False
            await audit.record(
                conn, actor, "webhook.delete", tenant_id=tenant, target_type="webhook", target_id=endpoint_id
            )
        return True
