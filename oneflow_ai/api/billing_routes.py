"""Usage reports (`GET /api/v1/usage`) and cost estimates (`POST /api/v1/estimate`).

A usage report is confined to the caller's tenant (owners, admins and viewers see all of its calls, a member
its own calls only, `identity.roles`); the master key sees every tenant, or one with `?tenant=`. Naming another
tenant answers 404, as a tenant that does not exist does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from oneflow_ai.api.deps import CallerDep, ConsoleDep, GatewayDep
from oneflow_ai.api.responses import JSONBytes
from oneflow_ai.api.routing_routes import route_decision
from oneflow_ai.api.schemas import ERRORS, Tokens
from oneflow_ai.billing.usage import UsageQuery, usage
from oneflow_ai.errors import InvalidRequest, ModelNotFound, PermissionDenied
from oneflow_ai.identity.roles import confine, own_calls
from oneflow_ai.pricing import decimal_str

router = APIRouter(tags=["Billing"], responses=ERRORS)

FILTERS = ("key", "user", "end_user", "department", "tenant", "model", "provider")


def iso_time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"'{name}' must be an ISO 8601 time, e.g. 2025-01-31T00:00:00Z", param=name) from None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


@router.get("/usage", summary="Usage and cost, totalled and grouped (from the daily or hourly aggregates)")
async def get_usage(
    gw: GatewayDep,
    p: ConsoleDep,
    key: str | None = None,
    user: str | None = None,
    end_user: str | None = None,
    department: str | None = None,
    tenant: str | None = None,
    model: str | None = None,
    provider: str | None = None,
    start: Annotated[str | None, Query(description="ISO 8601; the bucket of this hour is the first counted")] = None,
    end: Annotated[str | None, Query(description="ISO 8601; buckets before this time are counted")] = None,
    group_by: Annotated[
        list[str] | None, Query(description="dimensions and/or hour|day; repeat or comma-separate")
    ] = None,
) -> Response:
    mine = own_calls(p)
    if mine is not None and user is not None and user != mine:
        raise PermissionDenied("Your role (member) may read the usage of your own calls only.")
    values = {
        "key": key,
        "user": mine or user,
        "end_user": end_user,
        "department": department,
        "tenant": confine(p, tenant),
        "model": model,
        "provider": provider,
    }
    for name, value in values.items():
        if value is not None and "\x00" in value:  # no stored value has one, and PostgreSQL refuses it in a query
            raise InvalidRequest(f"'{name}' must not contain NUL characters", param=name)
    groups = tuple(g.strip() for item in group_by or () for g in item.split(",") if g.strip())
    try:
        query = UsageQuery(
            {k: v for k, v in values.items() if v is not None}, iso_time(start, "start"), iso_time(end, "end"), groups
        )
    except ValueError as e:
        raise InvalidRequest(str(e), param="group_by") from None
    return JSONBytes(orjson.dumps(await usage(gw.engine, query, gw.pricing.inr_per_usd)))


class EstimateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="a public model (priced as its first deployment) or a catalog model")
    input_tokens: Tokens
    output_tokens: Tokens = 0
    cached_tokens: Tokens = 0
    strategy: str | None = Field(None, description="without a model: the routing strategy (default balanced)")
    modality: str | None = Field(None, description="without a model: text (default), embedding, image or audio")


@router.post("/estimate", summary="What a call with these token counts would cost")
async def estimate(body: EstimateRequest, gw: GatewayDep, principal: CallerDep) -> Response:
    if body.model is None:  # no model: the routing decision (routing_routes), priced
        return JSONBytes(
            orjson.dumps(
                route_decision(gw, principal, body.input_tokens, body.output_tokens, body.strategy, body.modality)
            )
        )
    group = gw.models.get(body.model)
    if group is not None:  # priced as its first deployment, with that deployment's `price` (as the ledger charges)
        priced, price = group.deployments[0].model, gw.prices.get(group.deployments[0])
    else:
        priced, price = body.model, gw.pricing.catalog.get(body.model)
        if price is None:
            message = f"The model '{body.model}' does not exist or you do not have access to it."
            raise ModelNotFound(message, param="model")
    if body.cached_tokens > body.input_tokens:
        raise InvalidRequest("cached_tokens cannot be more than input_tokens", param="cached_tokens")
    if price is None:
        message = f"No price is known for model '{priced}': neither the price catalog nor its deployment has one."
        raise InvalidRequest(message, param="model", code="unknown_price")
    cost = gw.pricing.cost_of(price, body.input_tokens, body.output_tokens, body.cached_tokens)
    out: dict[str, Any] = {
        "model": body.model,
        "priced_as": priced,
        "input_tokens": body.input_tokens,
        "output_tokens": body.output_tokens,
        "cached_tokens": body.cached_tokens,
        "cost_usd": decimal_str(cost.usd),
        "credits": decimal_str(cost.credits),
        "cost_inr": decimal_str(cost.inr(gw.pricing.inr_per_usd)),
    }
    return JSONBytes(orjson.dumps(out))
