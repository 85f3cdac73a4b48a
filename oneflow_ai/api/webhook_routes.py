"""The webhooks admin API: `/api/v1/admin/webhooks` (a tenant's endpoints) and its delivery log.

Owners and admins manage their tenant's endpoints; the superuser any tenant's (or global ones, with no tenant).
Only the superuser may let an endpoint reach private addresses (`allow_private`). An endpoint's signing secret
is shown once, in the answer to its creation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from oneflow_ai.api.deps import TenantAdminDep
from oneflow_ai.api.identity_routes import source_ip
from oneflow_ai.api.schemas import ERRORS
from oneflow_ai.auth.principal import Principal
from oneflow_ai.errors import NotFound, PermissionDenied
from oneflow_ai.events import deliveries, ssrf
from oneflow_ai.events.config import checked_events, checked_url
from oneflow_ai.events.endpoints import Endpoint
from oneflow_ai.events.service import Events
from oneflow_ai.identity.audit import Actor
from oneflow_ai.identity.roles import scope, target_tenant


async def events_of(request: Request) -> Events:  # async: FastAPI runs a `def` one in a thread
    events: Events = request.state.events
    return events


EventsDep = Annotated[Events, Depends(events_of)]

router = APIRouter(prefix="/admin/webhooks", tags=["Webhooks"], responses=ERRORS)


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2048)
    events: list[str] = Field(["*"], description="event types, or * for every one")
    format: Literal["generic", "slack"] = "generic"
    tenant_id: str | None = Field(None, description="the superuser's choice; others: their own tenant")
    allow_private: bool = Field(False, description="reach private or loopback addresses (superuser only)")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return checked_url(v)

    @field_validator("events")
    @classmethod
    def _events(cls, v: list[str]) -> list[str]:
        return list(checked_events(v))


def actor(p: Principal, request: Request) -> Actor:
    return Actor(p, source_ip(request))


def _public(e: Endpoint, *, secret: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": e.id,
        "object": "webhook",
        "url": e.url,
        "events": list(e.events),
        "format": e.format,
        "tenant_id": e.tenant,
        "allow_private": e.allow_private,
        "created_at": e.created_at.isoformat() if e.created_at else None,
    }
    if secret:
        out["secret"] = e.secret
    return out


@router.get("", summary="List the tenant's webhook endpoints")
async def list_webhooks(p: TenantAdminDep, events: EventsDep) -> dict[str, Any]:
    return {"object": "list", "data": [_public(e) for e in await events.endpoints.of_tenant(scope(p))]}


@router.post("", status_code=201, summary="Add a webhook endpoint (its secret is shown once)")
async def create_webhook(body: WebhookCreate, p: TenantAdminDep, events: EventsDep, request: Request) -> dict[str, Any]:
    own = scope(p)
    if body.allow_private and own is not None:
        raise PermissionDenied("Only the superuser may let a webhook reach private addresses.")
    tenant = target_tenant(p, body.tenant_id, "") or None
    ssrf.check_literal(urlsplit(body.url).hostname or "", allow_private=body.allow_private)
    e = await events.endpoints.add(
        tenant, body.url, tuple(body.events), body.format, body.allow_private, datetime.now(UTC), actor(p, request)
    )
    return _public(e, secret=True)


@router.get("/deliveries", summary="The delivery log, newest first (one entry per attempt)")
async def list_deliveries(
    p: TenantAdminDep,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    event_id: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    events = await events_of(request)
    rows = await deliveries.recent(events.endpoints.engine, scope(p), limit=limit, event_id=event_id)
    return {"object": "list", "data": rows}


@router.delete("/{webhook_id}", summary="Remove a webhook endpoint")
async def delete_webhook(webhook_id: str, p: TenantAdminDep, events: EventsDep, request: Request) -> dict[str, Any]:
    if not await events.endpoints.remove(scope(p), webhook_id[:64], actor(p, request)):
        raise NotFound(f"No webhook endpoint {webhook_id!r}.")
    return {"id": webhook_id, "object": "webhook", "deleted": True}
