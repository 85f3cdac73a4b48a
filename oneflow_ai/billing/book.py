"""The budgets in force: those of the config file (read-only) and those kept in the database (admin API).

Lookups on the hot path read one immutable index, replaced whole on every change; a replica learns of budgets
another one added through the admin API when it next `reload`s (the `Budgets` task does every few seconds).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from oneflow_ai.billing.budget import Budget, config_budget_id
from oneflow_ai.billing.periods import PERIODS, SCOPES, parse_thresholds
from oneflow_ai.billing.repository import BudgetRepository
from oneflow_ai.config.schema import BudgetConfig
from oneflow_ai.errors import InvalidRequest, NotFound, PermissionDenied

Index = Mapping[tuple[str, str | None], tuple[Budget, ...]]


def from_config(entries: Iterable[BudgetConfig]) -> list[Budget]:
    return [
        Budget(
            config_budget_id(e.scope, e.id, e.period),
            e.scope,
            e.id,
            e.period,
            e.limit_usd,
            tuple(sorted(set(e.thresholds))),
            source="config",
        )
        for e in entries
    ]


def check(scope: str, scope_id: str, period: str, limit_usd: Decimal, thresholds: tuple[Decimal, ...]) -> None:
    """Refuse a budget the admin API was sent that could not be enforced, naming the field."""
    if scope not in SCOPES:
        raise InvalidRequest(f"unknown scope {scope!r}; known: {', '.join(SCOPES)}", param="scope")
    if not scope_id or len(scope_id) > 256:
        raise InvalidRequest("scope_id must be 1 to 256 characters", param="scope_id")
    if period not in PERIODS:
        raise InvalidRequest(f"unknown period {period!r}; known: {', '.join(PERIODS)}", param="period")
    if not limit_usd.is_finite() or limit_usd < 0 or limit_usd >= Decimal("1e8"):
        raise InvalidRequest("limit_usd must be a decimal amount from 0 to 99999999", param="limit_usd")
    try:
        parse_thresholds(",".join(map(str, thresholds)))
    except ValueError as e:
        raise InvalidRequest(str(e), param="thresholds") from None


class BudgetBook:
    def __init__(self, repository: BudgetRepository, configured: Iterable[Budget]) -> None:
        self._repository = repository
        self._config = {b.id: b for b in configured}
        self._api: dict[str, Budget] = {}
        self.index: Index = {}
        self._by_id: Mapping[str, Budget] = {}
        self._rebuild()

    def _rebuild(self) -> None:
        index: dict[tuple[str, str | None], tuple[Budget, ...]] = {}
        for b in (*self._config.values(), *self._api.values()):
            index[(b.scope, b.scope_id)] = (*index.get((b.scope, b.scope_id), ()), b)
        self.index = index
        self._by_id = {**self._config, **self._api}

    def __iter__(self) -> Iterator[Budget]:
        yield from self._config.values()
        yield from self._api.values()

    def matching(self, scopes: Iterable[tuple[str, str | None]], named: str | None = None) -> list[Budget]:
        """The budgets of these (scope, id) pairs, and the one `named` by the caller's key (`budget_id`) if this
        replica knows it (a budget id it does not know, deleted or not loaded yet, adds none)."""
        index = self.index
        found = [b for pair in scopes for b in index.get(pair, ())]
        if named is not None:
            budget = self._by_id.get(named)
            if budget is not None and all(b.id != named for b in found):
                found.append(budget)
        return found

    def get(self, budget_id: str) -> Budget:
        budget = self._config.get(budget_id) or self._api.get(budget_id)
        if budget is None:
            raise NotFound(f"No budget with id '{budget_id}'.", code="budget_not_found")
        return budget

    async def reload(self) -> None:
        self._api = {b.id: b for b in await self._repository.load()}
        self._rebuild()

    async def create(
        self, scope: str, scope_id: str, period: str, limit_usd: Decimal, thresholds: tuple[Decimal, ...]
    ) -> Budget:
        check(scope, scope_id, period, limit_usd, thresholds)
        now = datetime.now(UTC)
        budget = Budget(
            "bud_" + secrets.token_hex(10),
            scope,
            scope_id,
            period,
            limit_usd,
            tuple(sorted(set(thresholds))),
            "api",
            now,
            now,
        )
        await self._repository.add(budget)
        self._api[budget.id] = budget
        self._rebuild()
        return budget

    async def update(
        self,
        budget_id: str,
        *,
        period: str | None = None,
        limit_usd: Decimal | None = None,
        thresholds: tuple[Decimal, ...] | None = None,
    ) -> Budget:
        """Change a budget's period, limit or thresholds (its scope is its identity: make a new one for another)."""
        old = self._writable(budget_id)
        budget = replace(
            old,
            period=old.period if period is None else period,
            limit_usd=old.limit_usd if limit_usd is None else limit_usd,
            thresholds=old.thresholds if thresholds is None else tuple(sorted(set(thresholds))),
            updated_at=datetime.now(UTC),
        )
        check(budget.scope, budget.scope_id, budget.period, budget.limit_usd, budget.thresholds)
        if not await self._repository.replace(budget):
            raise NotFound(f"No budget with id '{budget_id}'.", code="budget_not_found")
        self._api[budget.id] = budget
        self._rebuild()
        return budget

    async def delete(self, budget_id: str) -> None:
        self._writable(budget_id)
        await self._repository.remove(budget_id)
        self._api.pop(budget_id, None)
        self._rebuild()

    def _writable(self, budget_id: str) -> Budget:
        budget = self.get(budget_id)
        if budget.source == "config":
            raise PermissionDenied(f"Budget '{budget_id}' is defined in the config file; change it there.")
        return budget
