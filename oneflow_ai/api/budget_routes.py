"""The budgets admin API: `/api/v1/admin/budgets`. Each budget comes with its current period's spend.

A budget belongs to a tenant through its scope (`billing.budget_tenancy`): owners, admins and viewers of that
tenant read it and its threshold events, owners and admins make, change and delete it; another tenant's budget
answers 404 exactly as a missing one. Budgets on the `end_user`, `provider` and `model` scopes span tenants:
the master key's alone. The master key sees every budget (or one tenant's, `?tenant=`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from oneflow_ai.api.deps import ConsoleDep, GatewayDep
from oneflow_ai.api.identity_routes import Limit
from oneflow_ai.api.responses import JSONBytes
from oneflow_ai.api.schemas import ERRORS
from oneflow_ai.billing import budget_events
from oneflow_ai.billing.budget import Budget
from oneflow_ai.billing.budget_tenancy import TENANT_SCOPES, owners, visible
from oneflow_ai.billing.budgets import Budgets
from oneflow_ai.billing.periods import DEFAULT_THRESHOLDS
from oneflow_ai.errors import NotFound, PermissionDenied
from oneflow_ai.gateway.runtime import Gateway
from oneflow_ai.identity.roles import Can, NotFoundInTenant, confine, require, scope
from oneflow_ai.pricing import decimal_str


def budgets_of(request: Request) -> Budgets:
    budgets: Budgets = request.state.budgets
    return budgets


BudgetsDep = Annotated[Budgets, Depends(budgets_of)]

router = APIRouter(prefix="/admin/budgets", tags=["Budgets"], responses=ERRORS)


class BudgetCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: str = Field(description="key | user | end_user | department | tenant | provider | model")
    scope_id: str = Field(min_length=1, max_length=256)
    period: str = Field("monthly", description="daily | weekly | monthly | total (UTC calendar periods)")
    limit_usd: Decimal = Field(description="a decimal amount; send it as a string to keep it exact")
    thresholds: list[Decimal] = Field(list(DEFAULT_THRESHOLDS), description="fractions of the limit to log once")


class BudgetUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: str | None = None
    limit_usd: Decimal | None = None
    thresholds: list[Decimal] | None = None


async def _public(budgets: Budgets, b: Budget) -> dict[str, Any]:
    return {
        "id": b.id,
        "object": "budget",
        "scope": b.scope,
        "scope_id": b.scope_id,
        "period": b.period,
        "limit_usd": decimal_str(b.limit_usd),
        "thresholds": [decimal_str(t) for t in b.thresholds],
        "source": b.source,
        "created_at": b.created_at.isoformat() if b.created_at else None,
        "updated_at": b.updated_at.isoformat() if b.updated_at else None,
        **await budgets.status(b),
    }


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return JSONBytes(orjson.dumps(body), status_code=status)


Tenant = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_\-]{1,64}$", description="master key only")]
Cursor = Annotated[str | None, Query(max_length=512, description="`next_cursor` of the previous page")]


def _missing(budget_id: str) -> NotFound:
    return NotFound(f"No budget with id '{budget_id}'.", code="budget_not_found")


async def _own(gw: Gateway, budgets: Budgets, p: Any, budget_id: str) -> Budget:
    """The budget, if the caller's tenant owns it (the master key: any); 404 as for a missing one otherwise."""
    try:
        budget = budgets.book.get(budget_id)
    except NotFound:
        raise _missing(budget_id) from None
    tenant = scope(p)
    if tenant is not None and (await owners(gw.engine, [budget]))[budget.id] != tenant:
        raise _missing(budget_id)
    return budget


async def _may_create(gw: Gateway, p: Any, body: BudgetCreate) -> None:
    tenant = scope(p)
    if tenant is None:
        return
    if body.scope not in TENANT_SCOPES:
        raise PermissionDenied(f"Budgets on the '{body.scope}' scope span tenants: only the master key sets them.")
    probe = Budget("probe", body.scope, body.scope_id, body.period, body.limit_usd)
    if (await owners(gw.engine, [probe]))["probe"] != tenant:
        raise NotFoundInTenant(body.scope, body.scope_id)


@router.post("", status_code=201, summary="Create a budget")
async def create_budget(body: BudgetCreate, budgets: BudgetsDep, gw: GatewayDep, p: ConsoleDep) -> Response:
    require(p, Can.MANAGE_TENANT)
    await _may_create(gw, p, body)
    budget = await budgets.book.create(body.scope, body.scope_id, body.period, body.limit_usd, tuple(body.thresholds))
    await budgets.seed([budget])
    return _json(await _public(budgets, budget), 201)


@router.get("", summary="List budgets with their spend (filter by scope and scope_id)")
async def list_budgets(
    budgets: BudgetsDep,
    gw: GatewayDep,
    p: ConsoleDep,
    scope: str | None = None,
    scope_id: str | None = None,
    tenant: Tenant = None,
) -> Response:
    require(p, Can.READ_TENANT)
    chosen = [b for b in budgets.book if scope in (None, b.scope) and scope_id in (None, b.scope_id)]
    chosen = await visible(gw.engine, chosen, confine(p, tenant))
    return _json({"object": "list", "data": [await _public(budgets, b) for b in chosen]})


@router.get("/events", summary="Threshold events of the budgets you see, newest first (cursor-paginated)")
async def list_events(
    budgets: BudgetsDep,
    gw: GatewayDep,
    p: ConsoleDep,
    budget_id: Annotated[str | None, Query(max_length=64)] = None,
    tenant: Tenant = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Response:
    require(p, Can.READ_TENANT)
    return _json(await events_page(gw, budgets, p, budget_id, tenant, limit, cursor))


@router.get("/{budget_id}/events", summary="One budget's threshold events, newest first (cursor-paginated)")
async def budget_events_of(
    budget_id: str, budgets: BudgetsDep, gw: GatewayDep, p: ConsoleDep, limit: Limit = 100, cursor: Cursor = None
) -> Response:
    require(p, Can.READ_TENANT)
    await _own(gw, budgets, p, budget_id)
    return _json(await events_page(gw, budgets, p, budget_id, None, limit, cursor))


async def events_page(
    gw: Gateway,
    budgets: Budgets,
    p: Any,
    budget_id: str | None,
    tenant: str | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """A page of threshold events the caller may see, as the API and the console show them. The master key
    sees events of deleted budgets too (their scope unknown); a tenant only those of its current budgets."""
    seen = confine(p, tenant)
    known = {b.id: b for b in budgets.book}
    ids: set[str] | None = None
    if seen is not None:
        ids = {b.id for b in await visible(gw.engine, known.values(), seen)}
    if budget_id is not None:
        ids = {budget_id} & ids if ids is not None else {budget_id}
    rows, next_cursor = await budget_events.page(gw.engine, ids, limit=limit, after=cursor)
    sqlite = gw.engine.dialect.name == "sqlite"
    data = [budget_events.public(r, known.get(r["budget_id"]), sqlite) for r in rows]
    return {"object": "list", "data": data, "has_more": next_cursor is not None, "next_cursor": next_cursor}


@router.get("/{budget_id}", summary="One budget with its spend")
async def get_budget(budget_id: str, budgets: BudgetsDep, gw: GatewayDep, p: ConsoleDep) -> Response:
    require(p, Can.READ_TENANT)
    return _json(await _public(budgets, await _own(gw, budgets, p, budget_id)))


@router.patch("/{budget_id}", summary="Change a budget's period, limit or thresholds")
async def update_budget(
    budget_id: str, body: BudgetUpdate, budgets: BudgetsDep, gw: GatewayDep, p: ConsoleDep
) -> Response:
    require(p, Can.MANAGE_TENANT)
    await _own(gw, budgets, p, budget_id)
    budget = await budgets.book.update(
        budget_id,
        period=body.period,
        limit_usd=body.limit_usd,
        thresholds=None if body.thresholds is None else tuple(body.thresholds),
    )
    await budgets.seed([budget])
    return _json(await _public(budgets, budget))


@router.delete("/{budget_id}", summary="Delete a budget")
async def delete_budget(budget_id: str, budgets: BudgetsDep, gw: GatewayDep, p: ConsoleDep) -> Response:
    require(p, Can.MANAGE_TENANT)
    await _own(gw, budgets, p, budget_id)
    await budgets.book.delete(budget_id)
    return _json({"id": budget_id, "object": "budget.deleted", "deleted": True})
