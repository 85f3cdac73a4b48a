"""The response cache: entries, bytes, hits, misses, hit rate and the money hits saved (the caller's tenant; the
master key every tenant, each listed), and a clear (owners and admins: their tenant's entries only, optionally one
model's; the master key: all). The same functions as `/api/v1/admin/cache` (`api.cache_routes`), so the same
rules and the same audit record (`cache.clear`)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from oneflow_ai.api.cache_routes import clear_for, response_cache, stats_of
from oneflow_ai.api.deps import GatewayDep, IdentityDep
from oneflow_ai.api.identity_routes import source_ip
from oneflow_ai.console.deps import Form, SignedIn
from oneflow_ai.console.page import Page
from oneflow_ai.console.render import render
from oneflow_ai.errors import InvalidRequest
from oneflow_ai.identity.audit import Actor
from oneflow_ai.identity.roles import Can, can, confine, require

router = APIRouter()
PAGE = Page(router=router, title="Cache", path="/cache", visible=lambda p: can(p, Can.READ_TENANT))


@router.get("/cache")
async def cache_page(request: Request, p: SignedIn, gw: GatewayDep, cleared: int | None = None) -> Response:
    require(p, Can.READ_TENANT)
    stats = await stats_of(response_cache(gw), confine(p, None))
    models = sorted({g.name for g in gw.models.values()})
    return render(request, "cache.html", {"stats": stats, "models": models, "cleared": cleared})


@router.post("/cache/clear")
async def clear(request: Request, p: SignedIn, form: Form, gw: GatewayDep, identity: IdentityDep) -> Response:
    model = form.optional("model")
    if model is not None and len(model) > 256:
        raise InvalidRequest("'model' is at most 256 characters.", param="model")
    done = await clear_for(Actor(p, source_ip(request)), response_cache(gw), identity.engine, model, None)
    return RedirectResponse("/ui/cache?" + urlencode({"cleared": done["deleted"]}), status_code=303)
