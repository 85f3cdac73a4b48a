"""Providers: each deployment's live health (error rate, latency, time to first token, calls in flight) and its
circuit breaker (closed, open or half-open; since when; the window's successes and failures). The same report as
`GET /api/v1/admin/routing/health` (`gateway.health_view`): the deployments serve every tenant, so owners,
admins and viewers of any tenant, and the master key, see the same page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from oneflow_ai.api.deps import GatewayDep
from oneflow_ai.console.deps import SignedIn
from oneflow_ai.console.page import Page
from oneflow_ai.console.render import render
from oneflow_ai.gateway.health_view import routing_health
from oneflow_ai.identity.roles import Can, can, require

router = APIRouter()
PAGE = Page(router=router, title="Providers", path="/providers", visible=lambda p: can(p, Can.READ_TENANT))


@router.get("/providers")
async def providers_page(request: Request, p: SignedIn, gw: GatewayDep) -> Response:
    require(p, Can.READ_TENANT)
    report = routing_health(gw)
    open_count = sum(1 for d in report["deployments"] if d["state"] != "closed")
    return render(request, "providers.html", {"report": report, "open_count": open_count})
