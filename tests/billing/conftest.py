"""Billing fixtures: a gateway in front of the fake OpenAI upstream, catalog prices read independently of the
pricing engine, and the ledger and its hourly and daily aggregates read straight from the database."""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Table, func, select

from oneflow_ai.store.db import create_engine
from oneflow_ai.store.tables import usage_hourly, usage_records

CATALOG = Path(__file__).parents[2] / "oneflow_ai" / "pricing" / "catalog.yaml"
MILLION = Decimal(1_000_000)


@functools.cache
def catalog_price(model: str) -> tuple[Decimal, Decimal, Decimal]:
    """(input, cached input, output) USD per token, read from the catalog file as written."""
    entry = yaml.safe_load(CATALOG.read_text())["models"][model]
    inp = Decimal(entry["input_per_million"]) / MILLION
    cached = Decimal(entry.get("cached_input_per_million") or entry["input_per_million"]) / MILLION
    return inp, cached, Decimal(entry["output_per_million"]) / MILLION


def expected_cost(model: str, input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> Decimal:
    inp, cached, out = catalog_price(model)
    return (input_tokens - cached_tokens) * inp + cached_tokens * cached + output_tokens * out


# The breaker never opens here: these tests count what each call was answered and charged, and a `broken` call
# answered 503 by an open breaker instead of the upstream's 502 would depend on how the calls interleave.
NO_BREAKER = "breaker: {min_requests: 1000000, consecutive_failures: null}"


def config(upstream_url: str, budgets: str = "", routing: str = f"routing: {{max_attempts: 1, {NO_BREAKER}}}\n") -> str:
    """`mini` (gpt-4o-mini) and `broken` (the fake's fake-error-500) on the fake upstream, plus `budgets`."""
    dep = f"provider: openai, base_url: '{upstream_url}/v1', api_key: env:UPSTREAM_KEY"
    return (
        "models:\n"
        f"  - {{name: mini, deployments: [{{{dep}, model: gpt-4o-mini}}]}}\n"
        f"  - {{name: broken, deployments: [{{{dep}, model: fake-error-500}}]}}\n"
        f"{routing}{budgets}"
    )


@pytest.fixture
def tag() -> str:
    """A unique end-user id: it marks this test's rows in a shared database and its keys in a shared Redis."""
    return f"t-{uuid.uuid4().hex[:12]}"


def run_db(database_url: str, fn: Callable[[Any], Any]) -> Any:
    async def go() -> Any:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                return await fn(conn)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def ledger_for(database_url: str, end_user: str, *, expect: int, wait_s: float = 30.0) -> list[dict[str, Any]]:
    """This end user's ledger rows, waiting for the write-behind batches until `expect` of them landed."""

    async def fetch(conn: Any) -> list[dict[str, Any]]:
        result = await conn.execute(select(usage_records).where(usage_records.c.end_user == end_user))
        return [dict(r._mapping) for r in result]

    deadline = time.monotonic() + wait_s
    while True:
        rows: list[dict[str, Any]] = run_db(database_url, fetch)
        if len(rows) >= expect or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def aggregate_totals(database_url: str, end_user: str, table: Table = usage_hourly) -> dict[str, Any]:
    """This end user's sums over all buckets of an aggregate table (`usage_hourly` or `usage_daily`)."""

    async def fetch(conn: Any) -> dict[str, Any]:
        c = table.c
        row = (
            await conn.execute(
                select(
                    *(
                        func.sum(c[k]).label(k)
                        for k in (
                            "requests",
                            "input_tokens",
                            "output_tokens",
                            "cached_tokens",
                            "cost_usd",
                            "credits",
                            "errors",
                        )
                    )
                ).where(c.end_user == end_user)
            )
        ).one()
        return dict(row._mapping)

    result: dict[str, Any] = run_db(database_url, fetch)
    return result
