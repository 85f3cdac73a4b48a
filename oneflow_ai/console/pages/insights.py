"""Cost insights in the console: per key and per model, what the same traffic would have cost on each cheaper model
of equal or higher quality, and the saving (`billing.insights_report`, the function behind
`GET /api/v1/admin/insights`, so the same numbers and the same tenant confinement). A bar chart (the vendored
Chart.js, `static/insights.js`) shows the largest possible saving per key."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from oneflow_ai.api.deps import GatewayDep
from oneflow_ai.billing.insights_report import SCOPES, cost_insights, last_days
from oneflow_ai.console.deps import SignedIn
from oneflow_ai.console.page import Page
from oneflow_ai.console.render import render
from oneflow_ai.errors import InvalidRequest
from oneflow_ai.identity.roles import Can, can, confine, require

router = APIRouter()
PAGE = Page(router=router, title="Insights", path="/insights", visible=lambda p: can(p, Can.READ_TENANT))
DAYS = (7, 30, 90)


@router.get("/insights")
async def insights_page(
    request: Request, p: SignedIn, gw: GatewayDep, days: int = 30, scope: str = "routable"
) -> Response:
    require(p, Can.READ_TENANT)
    if days not in DAYS:
        raise InvalidRequest(f"The range must be one of {', '.join(map(str, DAYS))} days.", param="days")
    if scope not in SCOPES:
        raise InvalidRequest(f"'scope' must be one of {', '.join(SCOPES)}.", param="scope")
    report = await cost_insights(
        gw.engine,
        gw.models,
        gw.prices,
        gw.pricing,
        scope=scope,
        span=last_days(datetime.now(UTC), days),
        tenant=confine(p, None),
    )
    best = [i for i in report["by_key"] if i["alternatives"]]
    chart = {
        "labels": [f"{i['key_name'] or i['key'] or '(no key)'} · {i['model']}" for i in best],
        "saved": [float(i["alternatives"][0]["saved_per_30_days_credits"]) for i in best],
    }
    context: dict[str, Any] = {
        "report": report,
        "days": days,
        "day_choices": DAYS,
        "scope": scope,
        "total_saving": sum((Decimal(i["alternatives"][0]["saved_per_30_days_credits"]) for i in best), Decimal(0)),
        "total_cost": sum((Decimal(i["cost_credits"]) for i in report["by_key"]), Decimal(0)),
        "chart": chart,
    }
    return render(request, "insights.html", context)
