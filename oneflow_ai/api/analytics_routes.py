"""The console's analytics: `GET /api/v1/admin/analytics/overview` and `/analytics/series`.

Read from the usage aggregates (`billing.analytics_report`). Confined like `/api/v1/usage`: owners, admins and
viewers read their own tenant, a member its own calls, the master key every tenant (or one, `?tenant=`); naming
another tenant answers 404 (`identity.roles.confine`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from starlette.responses import Response

from oneflow_ai.api.billing_routes import iso_time
from oneflow_ai.api.deps import ConsoleDep, GatewayDep
from oneflow_ai.api.responses import JSONBytes
from oneflow_ai.api.schemas import ERRORS
from oneflow_ai.auth.principal import Principal
from oneflow_ai.billing.analytics import BUCKETS, GROUPS, RANGES, Scope, Window
from oneflow_ai.billing.analytics_report import group_series, overview
from oneflow_ai.config.matching import Matching
from oneflow_ai.errors import InvalidRequest
from oneflow_ai.identity.roles import ID, confine, own_calls

router = APIRouter(prefix="/admin/analytics", tags=["Analytics"], responses=ERRORS)

Start = Annotated[str | None, Query(description="ISO 8601; the bucket of this hour is the first counted")]
End = Annotated[str | None, Query(description="ISO 8601 (default now); buckets before this time are counted")]
Range = Annotated[
    str | None, Query(alias="range", description=f"instead of start: the last {' | '.join(RANGES)} (default 7d)")
]
Tenant = Annotated[
    str | None,
    Query(description="master key only: one tenant (default every one)"),
    Matching(f"^{ID.pattern}$"),
]


def scope_of(p: Principal, tenant: str | None) -> Scope:
    """Whose calls `p` may read: its tenant (the master key: `tenant`, or all), a member's own calls only."""
    return Scope(tenant=confine(p, tenant), user=own_calls(p))


def window_of(start: str | None, end: str | None, span: str | None, now: datetime) -> Window:
    """The window asked for: `start`..`end`, or a `RANGES` name up to `end` (`Window.preset`; default 7 days)."""
    until = iso_time(end, "end") or now
    if start is not None and span is not None:
        raise InvalidRequest("give 'start' or 'range', not both", param="range")
    if start is None:
        if span is not None and span not in RANGES:
            raise InvalidRequest(f"'range' must be one of {', '.join(RANGES)}", param="range")
        return Window.preset(span or "7d", until)
    try:
        return Window(iso_time(start, "start") or until, until)
    except ValueError as e:
        raise InvalidRequest(str(e), param="start") from None


def _json(body: dict[str, Any]) -> Response:
    return JSONBytes(orjson.dumps(body))


@router.get("/overview", summary="Requests, tokens, cost (credits, USD, INR), error rate, p95 latency, cache hits")
async def get_overview(
    gw: GatewayDep, p: ConsoleDep, start: Start = None, end: End = None, span: Range = None, tenant: Tenant = None
) -> Response:
    scope = scope_of(p, tenant)
    window = window_of(start, end, span, datetime.now(UTC))
    return _json(await overview(gw.engine, scope, window, gw.pricing.inr_per_usd))


@router.get("/series", summary="Usage by user, department, key, model or provider, by hour or day")
async def get_series(
    gw: GatewayDep,
    p: ConsoleDep,
    group_by: Annotated[str | None, Query(description=f"one of {', '.join(GROUPS)}; none: all calls")] = None,
    bucket: Annotated[
        str | None, Query(description="hour | day | none (default: hour up to 3 days, day beyond)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="groups drawn; the rest are summed in `rest`")] = 10,
    start: Start = None,
    end: End = None,
    span: Range = None,
    tenant: Tenant = None,
) -> Response:
    if group_by is not None and group_by not in GROUPS:
        raise InvalidRequest(f"'group_by' must be one of {', '.join(GROUPS)}", param="group_by")
    if bucket is not None and bucket not in (*BUCKETS, "none"):
        raise InvalidRequest(f"'bucket' must be one of {', '.join(BUCKETS)} or none", param="bucket")
    scope = scope_of(p, tenant)
    window = window_of(start, end, span, datetime.now(UTC))
    chosen = window.bucket if bucket is None else (None if bucket == "none" else bucket)
    if chosen is not None:
        try:
            window.labels(chosen)
        except ValueError as e:  # too many buckets
            raise InvalidRequest(str(e), param="bucket") from None
    body = await group_series(
        gw.engine, scope, window, gw.pricing.inr_per_usd, group_by=group_by, bucket=chosen, limit=limit
    )
    return _json(body)
