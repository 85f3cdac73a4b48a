"""Cost insights: `GET /api/v1/admin/insights` (`billing.insights_report`).

Owners, admins and viewers read their own tenant's; the master key reads every tenant's, or one (`tenant=`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Query
from starlette.responses import Response

from oneflow_ai.api.deps import ConsoleDep, GatewayDep
from oneflow_ai.api.identity_routes import RESPONSES
from oneflow_ai.api.responses import JSONBytes
from oneflow_ai.billing.insights_report import SCOPES, Range, cost_insights, last_days
from oneflow_ai.errors import InvalidRequest
from oneflow_ai.identity.roles import ID, Can, require, target_tenant
from oneflow_ai.store.aggregates import hour_of

router = APIRouter(prefix="/admin", tags=["Insights"], responses=RESPONSES)

MAX_DAYS = 366


@router.get("/insights", summary="What each model's and key's traffic would have cost on cheaper models")
async def get_insights(
    p: ConsoleDep,
    gw: GatewayDep,
    days: Annotated[int | None, Query(ge=1, le=MAX_DAYS, description="the last N days (default 30)")] = None,
    start: Annotated[str | None, Query(description="ISO 8601; instead of days, with end")] = None,
    end: Annotated[str | None, Query(description="ISO 8601; buckets before this time are counted")] = None,
    compare: Annotated[str, Query(alias="scope", description="routable (default) or catalog")] = "routable",
    key: Annotated[str | None, Query(max_length=64)] = None,
    tenant: Annotated[str | None, Query(max_length=64, description="the master key only")] = None,
) -> Response:
    require(p, Can.READ_TENANT)
    confined = target_tenant(p, tenant, "") or None  # the caller's own; the master key's choice (none: all)
    if compare not in SCOPES:
        raise InvalidRequest(f"'scope' must be one of {', '.join(SCOPES)}", param="scope")
    if key is not None and not ID.fullmatch(key):
        raise InvalidRequest("'key' is not a key id.", param="key")
    span = _range(days, start, end)
    answer = await cost_insights(
        gw.engine, gw.models, gw.prices, gw.pricing, scope=compare, span=span, tenant=confined, key=key
    )
    return JSONBytes(orjson.dumps(answer))


def _range(days: int | None, start: str | None, end: str | None) -> Range:
    if start is None and end is None:
        return last_days(datetime.now(UTC), days or 30)
    if days is not None or start is None or end is None:
        raise InvalidRequest("Give either 'days', or both 'start' and 'end'.", param="start")
    first, last = hour_of(_time(start, "start")), _time(end, "end")
    if last <= first:
        raise InvalidRequest("'end' must be after 'start'.", param="end")
    return Range(first, last)


def _time(value: str, name: str) -> datetime:
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"'{name}' must be an ISO 8601 time, e.g. 2025-01-31T00:00:00Z", param=name) from None
    return t.astimezone(UTC) if t.tzinfo is not None else t.replace(tzinfo=UTC)
