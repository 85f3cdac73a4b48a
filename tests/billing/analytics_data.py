"""A seeded ledger for the analytics tests, and the figures computed straight from its raw records (exact
`Decimal`, latencies ranked), to compare with what the analytics read from the aggregates."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from math import ceil
from typing import Any

from oneflow_ai.store.aggregates import hour_of
from oneflow_ai.store.db import create_engine, migrate
from oneflow_ai.store.ledger import Ledger, UsageRecord
from oneflow_ai.store.tables import LATENCY_BOUNDS_MS

INR = Decimal("83.25")
MODELS = (("gpt-4o", "openai"), ("gpt-4o-mini", "openai"), ("claude-haiku", "anthropic"), ("llama-70b", "groq"))


def seeded(tag: str, start: datetime, hours: int, n: int, tenants: Iterable[str], seed: int = 7) -> list[UsageRecord]:
    """`n` records spread over `hours` from `start`, in `tenants` (two users, a department and keys each),
    with errors, cache hits, a fallback to another model, calls without a latency and calls past the last
    latency bound; money with many decimals."""
    rng = random.Random(seed)
    tenants = list(tenants)
    out = []
    for i in range(n):
        tenant = tenants[i % len(tenants)]
        u = rng.randrange(2)
        model, provider = MODELS[rng.randrange(len(MODELS))]
        served = "gpt-4o-mini" if model == "gpt-4o" and rng.random() < 0.2 else model
        ok = rng.random() > 0.1
        cost = Decimal(rng.randrange(1, 10**9)).scaleb(-12) if ok else Decimal(0)
        latency = rng.choice([None, rng.uniform(5, 99), rng.uniform(100, 2600), rng.uniform(2600, 40_000)])
        hit = ok and rng.random() < 0.15
        out.append(
            UsageRecord(
                request_id=f"{tag}-{i}",
                created_at=start + timedelta(seconds=rng.randrange(hours * 3600)),
                endpoint="chat",
                requested_model=model,
                status="ok" if ok else "upstream_error",
                http_status=200 if ok else 502,
                cost_usd=cost,
                credits=cost * 100,
                usage_source="upstream",
                key_id=f"{tenant}-key-{u}-{rng.randrange(2)}",
                user_id=f"{tenant}-user-{u}",
                department_id=f"{tenant}-dept-{u}",
                tenant_id=tenant,
                served_model=served,
                provider=provider,
                input_tokens=rng.randrange(10, 5000) if ok else 0,
                output_tokens=rng.randrange(1, 900) if ok else 0,
                cached_tokens=rng.randrange(0, 10) if ok else 0,
                latency_ms=latency,
                cache_hit=hit,
                saved_usd=cost if hit else Decimal(0),
            )
        )
    return out


def write(database_url: str, records: list[UsageRecord]) -> None:
    """Through the ledger itself (its inserts and aggregate upserts)."""

    async def go() -> None:
        engine = create_engine(database_url)
        try:
            await migrate(engine)
            ledger = Ledger(engine, batch_size=97)
            for r in records:
                ledger.record(r)
            await ledger.close()
        finally:
            await engine.dispose()

    asyncio.run(go())


def counted(records: Iterable[UsageRecord], start: datetime, end: datetime) -> list[UsageRecord]:
    """The records a window counts: those whose hour is from `start`'s hour to before `end`."""
    return [r for r in records if hour_of(start) <= hour_of(r.created_at) < end]


def rate(part: int, whole: int) -> str | None:
    if not whole:
        return None
    q = (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN).normalize()
    return format(q, "f")


def money(amount: Decimal) -> str:
    text = format(amount.normalize(), "f")
    return "0" if text in ("0", "-0") else text


def expected(records: list[UsageRecord]) -> dict[str, Any]:
    """The headline figures of `records`, from the records themselves."""
    n = len(records)
    errors = sum(r.status != "ok" for r in records)
    hits = sum(r.cache_hit for r in records)
    timed = sorted(r.latency_ms for r in records if r.latency_ms is not None)
    p95 = above = None
    if timed:
        nearest = timed[ceil(Decimal("0.95") * len(timed)) - 1]
        p95 = next((b for b in LATENCY_BOUNDS_MS if nearest <= b), None)
        above = LATENCY_BOUNDS_MS[-1] if p95 is None else None
    cost = sum((r.cost_usd for r in records), Decimal(0))
    return {
        "requests": n,
        "input_tokens": sum(r.input_tokens for r in records),
        "output_tokens": sum(r.output_tokens for r in records),
        "cached_tokens": sum(r.cached_tokens for r in records),
        "credits": money(sum((r.credits for r in records), Decimal(0))),
        "cost_usd": money(cost),
        "cost_inr": money(cost * INR),
        "saved_usd": money(sum((r.saved_usd for r in records), Decimal(0))),
        "errors": errors,
        "error_rate": rate(errors, n),
        "cache_hits": hits,
        "cache_hit_rate": rate(hits, n),
        "guardrail_blocked": 0,
        "p95_latency_ms": p95,
        "p95_latency_above_ms": above,
        "mean_latency_ms": round(sum(timed) / len(timed), 1) if timed else None,
    }


def by(records: Iterable[UsageRecord], key: Callable[[UsageRecord], Any]) -> dict[Any, list[UsageRecord]]:
    out: dict[Any, list[UsageRecord]] = {}
    for r in records:
        out.setdefault(key(r), []).append(r)
    return out


def without_mean(figures: dict[str, Any]) -> dict[str, Any]:
    """The figures but the mean latency (a float sum: compared apart, to 0.1 ms)."""
    return {k: v for k, v in figures.items() if k != "mean_latency_ms"}
