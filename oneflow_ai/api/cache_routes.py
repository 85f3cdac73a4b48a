"""The response cache's admin API: `/api/v1/admin/cache/stats` and `DELETE /api/v1/admin/cache`.

A tenant's owners, admins and viewers see its own entries' stats, its owners and admins clear its own entries
only (the store keeps each entry under its tenant: `cache.key`); the master key sees every tenant
(each listed, and their sum) and clears all of them, or one (`?tenant=`). `?model=` narrows a clear to one model
(a group's name or alias). Callers with no tenant (the master key's own calls) are the tenant `~`. With no cache
configured the stats are zeros and a clear removes nothing. A clear is written to the audit log (`cache.clear`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.api.deps import ConsoleDep, GatewayDep, IdentityDep
from oneflow_ai.api.identity_routes import source_ip
from oneflow_ai.api.schemas import ERRORS
from oneflow_ai.cache.stage import ResponseCache
from oneflow_ai.cache.store import Stats
from oneflow_ai.config.matching import Matching
from oneflow_ai.errors import PermissionDenied
from oneflow_ai.gateway.runtime import Gateway
from oneflow_ai.identity import audit
from oneflow_ai.identity.audit import Actor
from oneflow_ai.identity.roles import Can, confine, require

router = APIRouter(prefix="/admin/cache", tags=["Cache"], responses=ERRORS)

Tenant = Annotated[str | None, Query(description="master key only"), Matching(r"^[A-Za-z0-9_\-~]{1,64}$")]
Model = Annotated[str | None, Query(min_length=1, max_length=256)]


def response_cache(gw: Gateway) -> ResponseCache | None:
    return next((r for r in gw.stages.responders if isinstance(r, ResponseCache)), None)


@router.get("/stats", summary="Entries, bytes, hits, misses and the money hits saved (your tenant's)")
async def cache_stats(p: ConsoleDep, gw: GatewayDep, tenant: Tenant = None) -> dict[str, Any]:
    require(p, Can.READ_TENANT)
    return await stats_of(response_cache(gw), confine(p, tenant))


async def stats_of(cache: ResponseCache | None, seen: str | None) -> dict[str, Any]:
    """The stats of one tenant's entries (None: every tenant, each listed too), as the API and console show."""
    per = await cache.stats(seen) if cache is not None else {}
    total = Stats()
    for stats in per.values():
        total.add(stats)
    out: dict[str, Any] = {
        "store": cache.store.kind if cache is not None else "off",
        "tenant": seen,
        **total.public(),
    }
    if seen is None:
        out["tenants"] = {t: s.public() for t, s in sorted(per.items())}
    return out


@router.delete("", summary="Remove your tenant's entries (?model= narrows; the master key: all, or ?tenant=)")
async def clear_cache(
    p: ConsoleDep,
    gw: GatewayDep,
    identity: IdentityDep,
    request: Request,
    model: Model = None,
    tenant: Tenant = None,
) -> dict[str, Any]:
    return await clear_for(Actor(p, source_ip(request)), response_cache(gw), identity.engine, model, tenant)


async def clear_for(
    actor: Actor, cache: ResponseCache | None, engine: AsyncEngine, model: str | None, tenant: str | None
) -> dict[str, Any]:
    """Remove the entries the actor may clear (owners and admins: their tenant's; the master key: all, or
    `tenant`'s), narrowed to `model`, and write it to the audit log; as the API and the console do it."""
    p = actor.principal
    if p is None:
        raise PermissionDenied("Sign in first.")
    require(p, Can.MANAGE_TENANT)
    seen = confine(p, tenant)
    deleted = await cache.clear(seen, model) if cache is not None else 0
    async with engine.begin() as conn:  # in the audit log, as every admin action
        detail = {"deleted": deleted, "model": model}
        await audit.record(conn, actor, "cache.clear", tenant_id=seen, target_type="cache", detail=detail)
    return {"deleted": deleted, "tenant": seen, "model": model}
