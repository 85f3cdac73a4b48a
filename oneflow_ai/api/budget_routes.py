"""The budgets admin API: `/api/v1/admin/budgets`. Each budget comes with its current period's spend.

A budget belongs to a tenant through its scope (`billing.budget_tenancy`): owners, admins and viewers of that
tenant read it and its threshold events, owners and admins make, change and delete it; another tenant's budget
answers 404 exactly as a missing one. Budgets on the `end_user`, `provider` and `model` scopes span tenants:
the master key's alone. The master key sees every budget (or one tenant's, `?tenant=`). Handlers are thin: the
rules are the service's (`billing.budget_admin`), which the console calls too.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from oneflow_ai.api.deps import ConsoleDep
from oneflow_ai.api.identity_routes import Limit
from oneflow_ai.api.responses import JSONBytes
from oneflow_ai.api.schemas import ERRORS
from oneflow_ai.billing.budget_admin import BudgetAdmin
from oneflow_ai.billing.budgets import Budgets
from oneflow_ai.billing.periods import DEFAULT_THRESHOLDS
from oneflow_ai.config.matching import Matching


def budgets_of(request: Request) -> Budgets:
    budgets: Budgets = request.state.budgets
    return budgets


async def budget_admin(request: Request) -> BudgetAdmin:  # async: FastAPI runs a `def` one in a thread
    return BudgetAdmin(budgets_of(request), request.state.gateway.engine)


AdminOf = Annotated[BudgetAdmin, Depends(budget_admin)]

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


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return JSONBytes(orjson.dumps(body), status_code=status)


Tenant = Annotated[str | None, Query(description="master key only"), Matching(r"^[A-Za-z0-9_\-]{1,64}$")]
Cursor = Annotated[str | None, Query(max_length=512, description="`next_cursor` of the previous page")]


@router.post("", status_code=201, summary="Create a budget")
async def create_budget(body: BudgetCreate, admin: AdminOf, p: ConsoleDep) -> Response:
    thresholds = tuple(body.thresholds)
    budget = await admin.create(p, body.scope, body.scope_id, body.period, body.limit_usd, thresholds)
    return _json(await admin.public(budget), 201)


@router.get("", summary="List budgets with their spend (filter by scope and scope_id)")
async def list_budgets(
    admin: AdminOf, p: ConsoleDep, scope: str | None = None, scope_id: str | None = None, tenant: Tenant = None
) -> Response:
    chosen = await admin.listed(p, scope=scope, scope_id=scope_id, tenant=tenant)
    return _json({"object": "list", "data": [await admin.public(b) for b in chosen]})


@router.get("/events", summary="Threshold events of the budgets you see, newest first (cursor-paginated)")
async def list_events(
    admin: AdminOf,
    p: ConsoleDep,
    budget_id: Annotated[str | None, Query(max_length=64)] = None,
    tenant: Tenant = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Response:
    data, next_cursor = await admin.events(p, budget_id=budget_id, tenant=tenant, limit=limit, cursor=cursor)
    return _page(data, next_cursor)


@router.get("/{budget_id}/events", summary="One budget's threshold events, newest first (cursor-paginated)")
async def budget_events_of(
    budget_id: str, admin: AdminOf, p: ConsoleDep, limit: Limit = 100, cursor: Cursor = None
) -> Response:
    data, next_cursor = await admin.events(p, budget_id=budget_id, limit=limit, cursor=cursor)
    return _page(data, next_cursor)


def _page(data: list[dict[str, Any]], next_cursor: str | None) -> Response:
    return _json({"object": "list", "data": data, "has_more": next_cursor is not None, "next_cursor": next_cursor})


@router.get("/{budget_id}", summary="One budget with its spend")
async def get_budget(budget_id: str, admin: AdminOf, p: ConsoleDep) -> Response:
    return _json(await admin.public(await admin.get(p, budget_id)))


@router.patch("/{budget_id}", summary="Change a budget's period, limit or thresholds")
async def update_budget(budget_id: str, body: BudgetUpdate, admin: AdminOf, p: ConsoleDep) -> Response:
    thresholds = None if body.thresholds is None else tuple(body.thresholds)
    budget = await admin.update(p, budget_id, period=body.period, limit_usd=body.limit_usd, thresholds=thresholds)
    return _json(await admin.public(budget))


@router.delete("/{budget_id}", summary="Delete a budget")
async def delete_budget(budget_id: str, admin: AdminOf, p: ConsoleDep) -> Response:
    await admin.delete(p, budget_id)
    return _json({"id": budget_id, "object": "budget.deleted", "deleted": True})
