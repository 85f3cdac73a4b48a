"""The cost insights report (`GET /api/v1/admin/insights`): the traffic read from the usage aggregates, the
candidates from the configuration (`routable`) or the catalog (`catalog`), compared by `billing.insights`.

The traffic is the aggregates' sums per key, requested model and served model over the range (the same tables and
the same range rule as `GET /api/v1/usage`: whole hourly buckets from `start`'s hour to before `end`), without the
response cache's hits (provider `cache`: the ledger charged nothing for them, so moving them saves nothing).

`routable` (the default) compares only with the models this gateway can route to: each configured public model,
priced and scored as its first deployment (its `price` and `quality` overrides over the catalog), as `auto` and
`/api/v1/estimate` see it: a suggestion one can act on by changing the model a key asks for. `catalog` compares
with every chat or embedding model of the catalog, at catalog prices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.billing.insights import (
    Alternative,
    Candidate,
    Insight,
    Insights,
    Traffic,
    catalogued,
    insights,
    routable,
    sentence,
)
from oneflow_ai.billing.usage import UsageQuery, grouped
from oneflow_ai.config.schema import ModelGroup
from oneflow_ai.identity.tables import api_keys
from oneflow_ai.pricing import Cost, DeploymentPrices, PricingEngine, decimal_str

Scope = Literal["routable", "catalog"]
SCOPES: tuple[Scope, ...] = ("routable", "catalog")
SKIPPED_PROVIDERS = frozenset({"cache"})


@dataclass(frozen=True, slots=True)
class Range:
    start: datetime
    end: datetime

    @property
    def days(self) -> Decimal:
        span = self.end - self.start
        return Decimal(span.days) + Decimal(span.seconds) / Decimal(86400)


async def read_traffic(engine: AsyncEngine, tenant: str | None, key: str | None, span: Range) -> list[Traffic]:
    """The aggregates' sums per (key, requested model, served model) over `span`, cache hits left out."""
    filters = {k: v for k, v in (("tenant", tenant), ("key", key)) if v is not None}
    query = UsageQuery(filters, span.start, span.end, ("key", "model", "served_model", "provider"))
    out = []
    for (key_id, requested, served, provider), sums in (await grouped(engine, query, Decimal(0))).items():
        if provider in SKIPPED_PROVIDERS or not sums["requests"]:
            continue
        out.append(
            Traffic(
                key_id=key_id,
                requested_model=requested or "",
                served_model=served or requested or "",
                requests=sums["requests"],
                input_tokens=sums["input_tokens"],
                output_tokens=sums["output_tokens"],
                cached_tokens=sums["cached_tokens"],
                cost=Cost(sums["cost_usd"], sums["credits"]),
            )
        )
    return out


def candidates(
    scope: Scope, groups: Sequence[ModelGroup], prices: DeploymentPrices, pricing: PricingEngine
) -> list[Candidate]:
    here = routable((g.name, g.mode, prices.get(g.deployments[0]), g.deployments[0].quality) for g in groups)
    if scope == "routable":
        return here
    routes = {c.name: c.routes for c in here}
    return catalogued(pricing.catalog.models(), routes)


class Identifier:
    """A row of traffic's model: the catalog's entry for the served model (a candidate's quality when it is
    one), else the public model's first deployment's."""

    def __init__(self, here: Sequence[Candidate], groups: Mapping[str, ModelGroup], prices: DeploymentPrices) -> None:
        self.here = {c.name: c for c in here}
        self.groups = groups
        self.prices = prices

    def __call__(self, t: Traffic) -> Candidate | None:
        price = self.prices.catalog.get(t.served_model)
        if price is None:
            group = self.groups.get(t.requested_model)
            if group is None:
                return None
            price = self.prices.get(group.deployments[0])
            if price is None:
                return None
        found = self.here.get(price.name)
        return found if found is not None else Candidate(price, price.quality)


async def key_names(engine: AsyncEngine, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    async with engine.connect() as conn:
        rows = await conn.execute(select(api_keys.c.id, api_keys.c.name).where(api_keys.c.id.in_(sorted(ids))))
        return {r.id: r.name for r in rows}


def report(found: Insights, span: Range, scope: Scope, tenant: str | None, names: Mapping[str, str]) -> dict[str, Any]:
    """The JSON answer; money as exact decimal strings."""
    days = span.days

    def one(i: Insight, per_key: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"key": i.key_id, "key_name": names.get(i.key_id or "")} if per_key else {}
        out |= {
            "model": i.model.name,
            "mode": i.model.price.mode,
            "quality": i.model.quality,
            "requests": i.requests,
            "input_tokens": i.input_tokens,
            "output_tokens": i.output_tokens,
            "cached_tokens": i.cached_tokens,
            **_money("cost", i.cost),
            "alternatives": [_alternative(a) for a in i.alternatives],
        }
        best = i.alternatives[0] if i.alternatives else None
        out["suggestion"] = None if best is None else sentence(i, best, days, _who(i, per_key, names))
        return out

    return {
        "object": "cost_insights",
        "scope": scope,
        "tenant": tenant,
        "start": span.start.isoformat().replace("+00:00", "Z"),
        "end": span.end.isoformat().replace("+00:00", "Z"),
        "days": decimal_str(days),
        "by_model": [one(i, False) for i in found.by_model],
        "by_key": [one(i, True) for i in found.by_key],
        "unpriced": [
            {"key": u.key_id, "model": u.model, "requests": u.requests, "reason": u.reason} for u in found.unpriced
        ],
    }


def _who(i: Insight, per_key: bool, names: Mapping[str, str]) -> str:
    if not per_key:
        return "all traffic"
    if i.key_id is None:
        return "the calls made without a virtual key"
    return f"key `{names.get(i.key_id, i.key_id)}`"


def _alternative(a: Alternative) -> dict[str, Any]:
    return {
        "model": a.candidate.name,
        "routes": list(a.candidate.routes),
        "quality": a.candidate.quality,
        **_money("cost", a.cost),
        **_money("saved", a.saved),
        **_money("saved_per_30_days", a.saved_per_30_days),
    }


def _money(prefix: str, cost: Cost) -> dict[str, str]:
    return {f"{prefix}_usd": decimal_str(cost.usd), f"{prefix}_credits": decimal_str(cost.credits)}


async def cost_insights(
    engine: AsyncEngine,
    groups: Mapping[str, ModelGroup],
    prices: DeploymentPrices,
    pricing: PricingEngine,
    *,
    scope: Scope,
    span: Range,
    tenant: str | None,
    key: str | None = None,
) -> dict[str, Any]:
    unique = list({g.name: g for g in groups.values()}.values())
    here = candidates("routable", unique, prices, pricing)
    compared = here if scope == "routable" else candidates(scope, unique, prices, pricing)
    traffic = await read_traffic(engine, tenant, key, span)
    found = insights(traffic, Identifier(here, groups, prices), compared, pricing, span.days)
    names = await key_names(engine, {i.key_id for i in found.by_key if i.key_id is not None})
    return report(found, span, scope, tenant, names)


def last_days(now: datetime, days: int) -> Range:
    """`days` whole days of hourly buckets ending with the current hour (included)."""
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return Range(end - timedelta(days=days), end)
