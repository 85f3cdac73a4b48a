"""Virtual API keys and the audit log: `/api/v1/admin/api-keys`, `/api/v1/admin/audit`.

Handlers are thin: parse, call one `identity` service, serialize. Access rules live in `identity.roles`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request

from oneflow_ai.api.deps import ConsoleDep, IdentityDep
from oneflow_ai.api.identity_routes import RESPONSES, Limit, Offset, source_ip
from oneflow_ai.api.paging import Cursor, by_time, time_page
from oneflow_ai.config.matching import Matching
from oneflow_ai.identity import audit
from oneflow_ai.identity.audit import Actor
from oneflow_ai.identity.roles import Can, require, scope
from oneflow_ai.identity.schemas import AuditEntry, KeyCreate, KeyCreated, KeyPublic, KeyRotate, KeyUpdate, Page
from oneflow_ai.store.cursor import decode, encode

router = APIRouter(prefix="/admin", tags=["Identity"], responses=RESPONSES)


@router.post("/api-keys", status_code=201, summary="Create a virtual API key (its secret is shown this once)")
async def create_key(body: KeyCreate, p: ConsoleDep, request: Request, identity: IdentityDep) -> KeyCreated:
    return await identity.keys.create(p, body, Actor(p, source_ip(request)))


@router.get("/api-keys", summary="The keys you may see, oldest first (`?cursor=`, or `?offset=`)")
async def list_keys(
    p: ConsoleDep,
    identity: IdentityDep,
    user_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
    cursor: Cursor = None,
) -> Page[KeyPublic]:
    found = await identity.keys.list(p, user_id=user_id, limit=limit + 1, offset=offset, after=by_time(cursor))
    return time_page(found, limit)


@router.get("/api-keys/{key_id}", summary="One key")
async def get_key(key_id: str, p: ConsoleDep, identity: IdentityDep) -> KeyPublic:
    return await identity.keys.get(p, key_id)


@router.patch("/api-keys/{key_id}", summary="Change a key's name, role, models, limits, budget, expiry, metadata")
async def update_key(key_id: str, body: KeyUpdate, p: ConsoleDep, request: Request, identity: IdentityDep) -> KeyPublic:
    return await identity.keys.update(p, key_id, body, Actor(p, source_ip(request)))


@router.delete("/api-keys/{key_id}", summary="Revoke a key (it stops working on every replica within a second)")
async def revoke_key(key_id: str, p: ConsoleDep, request: Request, identity: IdentityDep) -> KeyPublic:
    return await identity.keys.revoke(p, key_id, Actor(p, source_ip(request)))


@router.post(
    "/api-keys/{key_id}/rotate",
    status_code=201,
    summary="A new secret; the old one keeps working for the grace period (default 24 h)",
)
async def rotate_key(
    key_id: str,
    p: ConsoleDep,
    request: Request,
    identity: IdentityDep,
    body: Annotated[KeyRotate | None, Body()] = None,
) -> KeyCreated:
    grace = (body or KeyRotate()).grace_period_s
    return await identity.keys.rotate(p, key_id, grace, Actor(p, source_ip(request)))


@router.get("/audit", summary="The tenant's audit log, newest first (owners and admins; `?cursor=` or `?before=`)")
async def audit_log(
    p: ConsoleDep,
    identity: IdentityDep,
    limit: Limit = 100,
    before: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="an entry id (32-bit)")] = None,
    action: Annotated[str | None, Query(max_length=64), Matching(r"^[\w.]+$")] = None,
    cursor: Cursor = None,
) -> Page[AuditEntry]:
    require(p, Can.READ_AUDIT)
    if cursor is not None:
        (before,) = decode(cursor, ("int",))
    entries, more = await audit.entries(identity.engine, scope(p), limit=limit, before=before, action=action)
    next_cursor = encode([entries[-1].id]) if more and entries else None
    return Page(data=entries, has_more=more, next_cursor=next_cursor)
