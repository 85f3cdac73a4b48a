"""The budgets admin API: `/api/v1/admin/budgets`. Each budget comes with its current period's spend."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from oneflow_ai.api.deps import AdminDep
from oneflow_ai.api.responses import JSONBytes
from oneflow_ai.api.schemas import ERRORS
from oneflow_ai.billing.budget import Budget
from oneflow_ai.billing.budgets import Budgets
from oneflow_ai.billing.periods import DEFAULT_THRESHOLDS
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


@router.post("", status_code=201, summary="Create a budget")
async def create_budget(body: BudgetCreate, budgets: BudgetsDep, _: AdminDep) -> Response:
    budget = await budgets.book.create(body.scope, body.scope_id, body.period, body.limit_usd, tuple(body.thresholds))
    await budgets.seed([budget])
    return _json(await _public(budgets, budget), 201)


@router.get("", summary="List budgets with their spend (filter by scope and scope_id)")
async def list_budgets(
    budgets: BudgetsDep, _: AdminDep, scope: str | None = None, scope_id: str | None = None
) -> Response:
    chosen = [b for b in budgets.book if scope in (None, b.scope) and scope_id in (None, b.scope_id)]
    return _json({"object": "list", "data": [await _public(budgets, b) for b in chosen]})


@router.get("/{budget_id}", summary="One budget with its spend")
async def get_budget(budget_id: str, budgets: BudgetsDep, _: AdminDep) -> Response:
    return _json(await _public(budgets, budgets.book.get(budget_id)))


@router.patch("/{budget_id}", summary="Change a budget's period, limit or thresholds")
async def update_budget(budget_id: str, body: BudgetUpdate, budgets: BudgetsDep, _: AdminDep) -> Response:
    budget = await budgets.book.update(
        budget_id,
        period=body.period,
        limit_usd=body.limit_usd,
        thresholds=None if body.thresholds is None else tuple(body.thresholds),
    )
    await budgets.seed([budget])
    return _json(await _public(budgets, budget))


@router.delete("/{budget_id}", summary="Delete a budget")
async def delete_budget(budget_id: str, budgets: BudgetsDep, _: AdminDep) -> Response:
    await budgets.book.delete(budget_id)
    return _json({"id": budget_id, "object": "budget.deleted", "deleted": True})
