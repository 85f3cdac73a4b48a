"""The request log: `GET /api/v1/admin/requests`, recent calls from the ledger, newest first (`billing.request_log`).

Owners, admins and viewers see every call of their tenant, a member its own calls (`identity.roles.own_calls`),
the master key every tenant's (or one's, `?tenant=`; another tenant's id answers a tenant's caller 404). Pages
continue with `?cursor=` (the previous page's `next_cursor`). No entry holds prompt or answer text: the gateway
stores none.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from oneflow_ai.api.billing_routes import iso_time
from oneflow_ai.api.deps import ConsoleDep, GatewayDep
from oneflow_ai.api.identity_routes import RESPONSES, Limit
from oneflow_ai.billing import request_log
from oneflow_ai.billing.request_log import GuardrailFilter, RequestFilter, confined
from oneflow_ai.config.matching import Matching

router = APIRouter(prefix="/admin", tags=["Billing"], responses=RESPONSES)

Text = Annotated[str | None, Query(min_length=1, max_length=128), Matching(r"^[^\x00]*$")]
Id = Annotated[str | None, Query(min_length=1, max_length=128), Matching(r"^[A-Za-z0-9_\-.:@]+$")]


@router.get("/requests", summary="Recent calls: model, key, user, status, tokens, cost, latency, cache, guardrails")
async def list_requests(
    p: ConsoleDep,
    gw: GatewayDep,
    model: Text = None,
    key_id: Id = None,
    user_id: Id = None,
    status: Annotated[str | None, Query(description="ok, error, or a status"), Matching(r"^[a-z_]{1,24}$")] = None,
    since: Annotated[str | None, Query(description="ISO 8601, inclusive")] = None,
    until: Annotated[str | None, Query(description="ISO 8601, exclusive")] = None,
    cache_hit: bool | None = None,
    guardrail: Annotated[GuardrailFilter | None, Query(description="any, none, or an action")] = None,
    experiment: Text = None,
    tenant: Annotated[str | None, Query(description="master key only"), Matching(r"^[A-Za-z0-9_\-]{1,64}$")] = None,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(max_length=512, description="the previous page's `next_cursor`")] = None,
) -> dict[str, Any]:
    wanted = RequestFilter(
        tenant=tenant,
        model=model,
        key_id=key_id,
        user_id=user_id,
        status=status,
        since=iso_time(since, "since"),
        until=iso_time(until, "until"),
        cache_hit=cache_hit,
        guardrail=guardrail,
        experiment=experiment,
    )
    data, next_cursor = await request_log.page(gw.engine, confined(p, wanted), limit=limit, after=cursor)
    return {"object": "list", "data": data, "has_more": next_cursor is not None, "next_cursor": next_cursor}
