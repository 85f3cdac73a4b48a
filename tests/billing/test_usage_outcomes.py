"""Migration 0007: the ledger keeps each call's cache, guardrail and unit outcome, and usage reports sum the cache
hits, the savings and the calls a guardrail blocked or redacted, in the totals and in every group (both stores)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from oneflow_ai.billing.usage import UsageQuery, usage
from oneflow_ai.store.db import create_engine, migrate
from oneflow_ai.store.ledger import Ledger, UsageRecord

AT = datetime(2026, 5, 3, 9, 5, tzinfo=UTC)


def test_usage_reports_count_cache_hits_savings_and_guardrail_outcomes(database_url: str) -> None:
    tag = f"outcomes-{uuid.uuid4().hex[:10]}"
    base = UsageRecord(
        request_id="",
        created_at=AT,
        endpoint="chat",
        requested_model="mini",
        status="ok",
        http_status=200,
        cost_usd=Decimal("0.001"),
        credits=Decimal("0.1"),
        usage_source="upstream",
        end_user=tag,
    )
    records = [
        replace(base, request_id=f"{tag}-0"),
        replace(
            base,
            request_id=f"{tag}-1",
            cost_usd=Decimal(0),
            credits=Decimal(0),
            cache_hit=True,
            cache_kind="exact",
            saved_usd=Decimal("0.000123456789"),
            served_model="m2",
        ),
        replace(
            base,
            request_id=f"{tag}-2",
            cost_usd=Decimal(0),
            credits=Decimal(0),
            cache_hit=True,
            cache_kind="semantic",
            saved_usd=Decimal("0.002"),
        ),
        replace(base, request_id=f"{tag}-3", status="blocked", http_status=400, guardrail_action="block"),
        replace(base, request_id=f"{tag}-4", guardrail_action="redact", created_at=AT + timedelta(hours=1)),
        replace(base, request_id=f"{tag}-5", guardrail_action="mask", served_model="m2"),
        replace(base, request_id=f"{tag}-6", guardrail_action="warn"),
    ]

    async def go() -> list[dict[str, Any]]:
        engine = create_engine(database_url)
        try:
            await migrate(engine)
            ledger = Ledger(engine)
            for r in records:
                ledger.record(r)
            await ledger.close()
            mine = {"end_user": tag}
            return [
                await usage(engine, UsageQuery(filters=mine), Decimal(1)),
                await usage(engine, UsageQuery(filters=mine, group_by=("served_model",)), Decimal(1)),
                await usage(
                    engine, UsageQuery(filters=mine, start=AT.replace(minute=0), group_by=("hour",)), Decimal(1)
                ),
            ]
        finally:
            await engine.dispose()

    total, by_model, by_hour = asyncio.run(go())
    t = total["totals"]
    assert (t["requests"], t["cache_hits"], t["guardrail_blocked"], t["guardrail_redacted"]) == (7, 2, 1, 2)
    assert Decimal(t["saved_usd"]) == Decimal("0.002123456789")
    groups = {g["served_model"]: g for g in by_model["groups"]}
    assert groups["m2"]["cache_hits"] == 1 and Decimal(groups["m2"]["saved_usd"]) == Decimal("0.000123456789")
    assert groups["m2"]["guardrail_redacted"] == 1 and groups[None]["guardrail_redacted"] == 1
    assert [g["guardrail_redacted"] for g in by_hour["groups"]] == [1, 1]
