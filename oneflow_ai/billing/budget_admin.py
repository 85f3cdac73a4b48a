"""Budgets as an admin sees them: the service behind `/api/v1/admin/budgets` and the console's budgets page.

Every function takes the caller (`Principal`) and applies the role rules (`identity.roles`): owners, admins and
viewers read their tenant's budgets and threshold events, owners and admins make, change and delete them, the
master key does all of it for every tenant. A budget is a tenant's through its scope (`budget_tenancy`); another
tenant's answers 404 exactly as a missing one, and a tenant makes budgets only on its own tenant, keys, users and
departments (the scopes that span tenants, `end_user`, `provider` and `model`, are the master key's).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.auth.principal import Principal
from oneflow_ai.billing import budget_events
from oneflow_ai.billing.budget import Budget
from oneflow_ai.billing.budget_tenancy import TENANT_SCOPES, owners, visible
from oneflow_ai.billing.budgets import Budgets
from oneflow_ai.errors import NotFound, PermissionDenied
from oneflow_ai.identity.roles import Can, NotFoundInTenant, confine, require, scope
from oneflow_ai.pricing import decimal_str


def missing(budget_id: str) -> NotFound:
    return NotFound(f"No budget with id '{budget_id}'.", code="budget_not_found")


@dataclass(frozen=True, slots=True)
class BudgetAdmin:
    budgets: Budgets
    engine: AsyncEngine

    async def public(self, b: Budget) -> dict[str, Any]:
        """A budget with its current period's spend, as the API answers and the console shows it."""
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
            **await self.budgets.status(b),
        }

    async def listed(
        self, p: Principal, *, scope: str | None = None, scope_id: str | None = None, tenant: str | None = None
    ) -> list[Budget]:
        require(p, Can.READ_TENANT)
        chosen = [b for b in self.budgets.book if scope in (None, b.scope) and scope_id in (None, b.scope_id)]
        return await visible(self.engine, chosen, confine(p, tenant))

    async def get(self, p: Principal, budget_id: str) -> Budget:
        require(p, Can.READ_TENANT)
        return await self._own(p, budget_id)

    async def create(
        self,
        p: Principal,
        scope_name: str,
        scope_id: str,
        period: str,
        limit_usd: Decimal,
        thresholds: tuple[Decimal, ...],
    ) -> Budget:
        require(p, Can.MANAGE_TENANT)
        tenant = scope(p)
        if tenant is not None:
            if scope_name not in TENANT_SCOPES:
                raise PermissionDenied(
                    f"Budgets on the '{scope_name}' scope span tenants: only the master key sets them."
                )
            probe = Budget("probe", scope_name, scope_id, period, limit_usd)
            if (await owners(self.engine, [probe]))["probe"] != tenant:
                raise NotFoundInTenant(scope_name, scope_id)
        budget = await self.budgets.book.create(scope_name, scope_id, period, limit_usd, thresholds)
        await self.budgets.seed([budget])
        return budget

    async def update(
        self,
        p: Principal,
        budget_id: str,
        *,
        period: str | None = None,
        limit_usd: Decimal | None = None,
        thresholds: tuple[Decimal, ...] | None = None,
    ) -> Budget:
        require(p, Can.MANAGE_TENANT)
        await self._own(p, budget_id)
        budget = await self.budgets.book.update(budget_id, period=period, limit_usd=limit_usd, thresholds=thresholds)
        await self.budgets.seed([budget])
        return budget

    async def delete(self, p: Principal, budget_id: str) -> None:
        require(p, Can.MANAGE_TENANT)
        await self._own(p, budget_id)
        await self.budgets.book.delete(budget_id)

    async def events(
        self,
        p: Principal,
        *,
        budget_id: str | None = None,
        tenant: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """(threshold events the caller may see, newest first; the next page's cursor). The master key sees
        events of deleted budgets too (their scope unknown); a tenant those of its current budgets only."""
        require(p, Can.READ_TENANT)
        if budget_id is not None and scope(p) is not None:  # another tenant's budget: 404, as a missing one
            await self._own(p, budget_id)
        seen = confine(p, tenant)
        known = {b.id: b for b in self.budgets.book}
        ids: set[str] | None = None
        if seen is not None:
            ids = {b.id for b in await visible(self.engine, known.values(), seen)}
        if budget_id is not None:
            ids = {budget_id} & ids if ids is not None else {budget_id}
        rows, next_cursor = await budget_events.page(self.engine, ids, limit=limit, after=cursor)
        sqlite = self.engine.dialect.name == "sqlite"
        return [budget_events.public(r, known.get(r["budget_id"]), sqlite) for r in rows], next_cursor

    async def _own(self, p: Principal, budget_id: str) -> Budget:
        """The budget, if the caller's tenant owns it (the master key: any); 404 as for a missing one otherwise."""
        try:
            budget = self.budgets.book.get(budget_id)
        except NotFound:
            raise missing(budget_id) from None
        tenant = scope(p)
        if tenant is not None and (await owners(self.engine, [budget]))[budget.id] != tenant:
            raise missing(budget_id)
        return budget
