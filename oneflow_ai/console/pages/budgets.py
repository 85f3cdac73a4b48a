"""Budgets and their threshold events: each budget with its current period's spend; make one, delete one (owners
and admins); the events newest first, a page at a time. The same service as `/api/v1/admin/budgets`
(`billing.budget_admin`), so the same rules: a tenant's budgets are those whose scope is its own (its tenant,
keys, users, departments), viewers read, the master key sees and sets every budget."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from oneflow_ai.api.budget_routes import budget_admin
from oneflow_ai.auth.principal import Principal
from oneflow_ai.billing.budget_admin import BudgetAdmin
from oneflow_ai.billing.budget_tenancy import TENANT_SCOPES
from oneflow_ai.billing.periods import DEFAULT_THRESHOLDS, PERIODS, SCOPES
from oneflow_ai.console.deps import Form, SignedIn
from oneflow_ai.console.page import Page
from oneflow_ai.console.render import render
from oneflow_ai.errors import GatewayError, InvalidRequest
from oneflow_ai.identity.roles import Can, can, is_superuser
from oneflow_ai.pricing import decimal_str

router = APIRouter()
PAGE = Page(router=router, title="Budgets", path="/budgets", visible=lambda p: can(p, Can.READ_TENANT))
EVENTS_PER_PAGE = 50


def scopes_for(p: Principal) -> tuple[str, ...]:
    """The scopes the caller may make a budget on (`budget_admin.create`)."""
    return SCOPES if is_superuser(p) else tuple(s for s in SCOPES if s in TENANT_SCOPES)


def used_tenth(row: dict[str, Any]) -> int:
    """The share of the limit spent, in tenths (0-10), for the meter's width class."""
    try:
        limit = Decimal(row["limit_usd"])
        spent = Decimal(row["spent_usd"])
    except (InvalidOperation, KeyError):
        return 0
    if limit <= 0:
        return 10 if spent > 0 else 0
    return max(0, min(10, int(spent * 10 / limit)))


async def _page(
    request: Request,
    p: Principal,
    admin: BudgetAdmin,
    events_of: str | None,
    cursor: str | None,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    budgets = [await admin.public(b) for b in await admin.listed(p)]
    for row in budgets:
        row["tenth"] = used_tenth(row)
        row["over"] = Decimal(row["spent_usd"]) >= Decimal(row["limit_usd"])
    events, next_cursor = await admin.events(p, budget_id=events_of, limit=EVENTS_PER_PAGE, cursor=cursor)
    kept = {"events_of": events_of} if events_of else {}
    context = {
        "budgets": budgets,
        "events": events,
        "events_of": events_of,
        "older_href": "/ui/budgets?" + urlencode({**kept, "cursor": next_cursor}) + "#events" if next_cursor else None,
        "scopes": scopes_for(p),
        "periods": PERIODS,
        "error": error,
        "form": form or {"scope": "tenant", "scope_id": p.tenant_id or "", "period": "monthly"},
        "default_thresholds": ",".join(decimal_str(t) for t in DEFAULT_THRESHOLDS),
    }
    return render(request, "budgets.html", context, status=status)


@router.get("/budgets")
async def budgets_page(
    request: Request,
    p: SignedIn,
    events_of: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    return await _page(request, p, await budget_admin(request), events_of or None, cursor or None)


def _decimal(value: str, name: str) -> Decimal:
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        raise InvalidRequest(f"'{name}' must be a decimal number, e.g. 25.00", param=name) from None
    if not amount.is_finite():
        raise InvalidRequest(f"'{name}' must be a decimal number, e.g. 25.00", param=name)
    return amount


@router.post("/budgets")
async def create_budget(request: Request, p: SignedIn, form: Form) -> Response:
    admin = await budget_admin(request)
    fields = {k: form.get(k).strip() for k in ("scope", "scope_id", "period", "limit_usd", "thresholds")}
    try:
        thresholds = tuple(_decimal(t, "thresholds") for t in fields["thresholds"].split(",") if t.strip())
        await admin.create(
            p,
            fields["scope"],
            fields["scope_id"],
            fields["period"] or "monthly",
            _decimal(fields["limit_usd"], "limit_usd"),
            thresholds or DEFAULT_THRESHOLDS,
        )
    except GatewayError as e:
        if e.status >= 500:
            raise
        return await _page(request, p, admin, None, None, error=e.message, form=fields, status=e.status)
    return RedirectResponse("/ui/budgets", status_code=303)


@router.post("/budgets/{budget_id}/delete")
async def delete_budget(request: Request, budget_id: str, p: SignedIn, form: Form) -> Response:
    await (await budget_admin(request)).delete(p, budget_id)
    return RedirectResponse("/ui/budgets", status_code=303)
