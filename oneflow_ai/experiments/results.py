"""An experiment's results per variant, computed from its ledger rows (`ix_usage_records_experiment`) and the
feedback posted for them.

Per variant: `requests` (every record of the experiment, whatever its outcome), `errors` and `error_rate` (records
whose status is not `ok`, over `requests`), `cost_usd` / `credits` / `cost_inr` (exact sums), token sums,
`latency_ms_mean` and `latency_ms_p95` over the successful calls (`ok`, latency known; the 95th percentile by
nearest rank: the smallest latency that at least 95 % of them do not exceed), `feedback` (how many calls got a
score) and `score_mean`. A tenant's admins read their own tenant's calls only, also of an experiment run for
every tenant.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.experiments.split import Experiment
from oneflow_ai.pricing.engine import decimal_str, exact
from oneflow_ai.store.aggregates import sqlite_money
from oneflow_ai.store.tables import feedback, usage_records

P95 = 0.95


def p95_rank(n: int) -> int:
    """The 1-based rank of the 95th percentile among `n` sorted values (nearest rank)."""
    return max(1, math.ceil(P95 * n))


async def results(engine: AsyncEngine, e: Experiment, tenant: str | None, inr_per_usd: Decimal) -> dict[str, Any]:
    u = usage_records.c
    mine = [u.experiment == e.id]
    if tenant is not None:
        mine.append(u.tenant_id == tenant)
    ok = (u.status == "ok") & u.latency_ms.is_not(None)
    totals = (
        select(
            u.variant,
            func.count().label("requests"),
            func.sum(case((u.status != "ok", 1), else_=0)).label("errors"),
            func.sum(u.cost_usd).label("cost_usd"),
            func.sum(u.credits).label("credits"),
            func.sum(u.input_tokens).label("input_tokens"),
            func.sum(u.output_tokens).label("output_tokens"),
            func.sum(case((ok, u.latency_ms))).label("latency_sum"),
            func.count(case((ok, 1))).label("timed"),
        )
        .where(*mine)
        .group_by(u.variant)
    )
    scores = (
        select(u.variant, func.count().label("n"), func.sum(feedback.c.score).label("score_sum"))
        .select_from(feedback.join(usage_records, feedback.c.request_id == u.request_id))
        .where(*mine)
        .group_by(u.variant)
    )
    sqlite = engine.dialect.name == "sqlite"
    by_variant: dict[str | None, dict[str, Any]] = {}
    async with engine.connect() as conn:
        for r in await conn.execute(totals):
            by_variant[r.variant] = _totals(r._mapping, sqlite, inr_per_usd)
        for r in await conn.execute(scores):
            row = by_variant.setdefault(r.variant, _totals({}, sqlite, inr_per_usd))
            row["feedback"] = int(r.n)
            row["score_mean"] = float(r.score_sum) / int(r.n) if r.n else None
        for variant, row in by_variant.items():
            timed = row.pop("_timed")
            if timed:
                rank = p95_rank(timed)
                p95 = select(u.latency_ms).where(*mine, ok, u.variant == variant).order_by(u.latency_ms)
                row["latency_ms_p95"] = (await conn.execute(p95.limit(1).offset(rank - 1))).scalar_one()
    names = [v.name for v in e.variants]
    order = [*names, *sorted((v for v in by_variant if v not in names), key=lambda v: v or "")]
    variants = []
    for name in order:
        row = by_variant.get(name) or _totals({}, sqlite, inr_per_usd)
        row.pop("_timed", None)
        target = next((v for v in e.variants if v.name == name), None)
        variants.append({"variant": name, "model": target.model if target else None, **row})
    return {"object": "experiment.results", "experiment": e.id, "tenant": tenant, "variants": variants}


def _totals(row: Any, sqlite: bool, inr_per_usd: Decimal) -> dict[str, Any]:
    requests = int(row.get("requests") or 0)
    errors = int(row.get("errors") or 0)
    money = sqlite_money if sqlite else (lambda v: Decimal(v or 0))
    usd, credits = money(row.get("cost_usd")), money(row.get("credits"))
    with exact():
        inr = usd * inr_per_usd
    timed = int(row.get("timed") or 0)
    return {
        "requests": requests,
        "errors": errors,
        "error_rate": errors / requests if requests else None,
        "cost_usd": decimal_str(usd),
        "credits": decimal_str(credits),
        "cost_inr": decimal_str(inr),
        "input_tokens": int(row.get("input_tokens") or 0),
        "output_tokens": int(row.get("output_tokens") or 0),
        "latency_ms_mean": float(row["latency_sum"]) / timed if timed else None,
        "latency_ms_p95": None,
        "feedback": 0,
        "score_mean": None,
        "_timed": timed,
    }
