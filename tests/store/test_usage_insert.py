"""The ledger's own insert statements keep every field of a record as SQLAlchemy reads it back, on SQLite and on
PostgreSQL (where the batch goes as one JSON document): money to the column's 12 decimals, times to the
microsecond, text with quotes and non-ASCII, missing values as NULL, and ids already present skipped."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import asdict
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from oneflow_ai.store.db import create_engine, migrate
from oneflow_ai.store.ledger import UsageRecord
from oneflow_ai.store.tables import usage_records
from oneflow_ai.store.usage_insert import UsageInsert

AT = datetime(2026, 3, 1, 23, 59, 59, 999_999, tzinfo=UTC)
RUN = uuid.uuid4().hex[:12]  # the PostgreSQL database is shared by the session's tests

RECORDS = [
    UsageRecord(
        request_id=f"chatcmpl-1-{RUN}",
        created_at=AT,
        endpoint="chat",
        requested_model="gpt-4o-mini",
        status="ok",
        http_status=200,
        cost_usd=Decimal("0.000123456789"),
        credits=Decimal("0.0123456789"),
        usage_source="upstream",
        key_id="key_1",
        user_id="usr_é",
        end_user='he said "hi" \\ \n ok',
        department_id="d'1",
        tenant_id="t-1",
        served_model="gpt-4o-mini-2024",
        provider="openai",
        deployment_id="openai/gpt-4o-mini#0",
        input_tokens=2_000_000_000,
        output_tokens=7,
        cached_tokens=3,
        latency_ms=12.345678901,
        ttft_ms=0.5,
        attempts=2,
        cache_hit=True,
        streamed=True,
        cache_kind="semantic",
        saved_usd=Decimal("0.000987654321"),
        guardrail="pci_dss:CREDIT_CARD,EMAIL_ADDRESS",
        guardrail_action="redact",
        unit="images",
        quantity=Decimal("2.5"),
        experiment="exp_1",
        variant="b",
    ),
    UsageRecord(  # the optional fields missing, another time zone, a large amount
        request_id=f"chatcmpl-2-{RUN}",
        created_at=datetime(2026, 3, 2, 5, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        endpoint="embeddings",
        requested_model="embed",
        status="upstream_error",
        http_status=502,
        cost_usd=Decimal("12345678.000000000001"),
        credits=Decimal(0),
        usage_source="estimate",
    ),
]


def test_every_field_is_kept_and_present_ids_are_skipped(database_url: str) -> None:
    async def go() -> tuple[set[str], set[str], list[dict[str, Any]]]:
        engine = create_engine(database_url)
        try:
            await migrate(engine)
            insert = UsageInsert(engine.dialect.name)
            async with engine.begin() as conn:
                first = await insert(conn, RECORDS[:1])
            async with engine.begin() as conn:
                second = await insert(conn, RECORDS)
            async with engine.connect() as conn:
                mine = usage_records.c.request_id.in_([r.request_id for r in RECORDS])
                rows = [dict(r._mapping) for r in await conn.execute(select(usage_records).where(mine))]
            return first, second, sorted(rows, key=lambda r: r["request_id"])
        finally:
            await engine.dispose()

    first, second, rows = asyncio.run(go())
    exact = not database_url.startswith("sqlite")  # SQLite keeps money as a float (as SQLAlchemy stores it there)
    assert first == {RECORDS[0].request_id} and second == {RECORDS[1].request_id}
    for record, row in zip(RECORDS, rows, strict=True):
        want = asdict(record)
        if row["created_at"].tzinfo is None:  # SQLite gives back naive UTC
            row["created_at"] = row["created_at"].replace(tzinfo=UTC)
        assert row["created_at"] == want.pop("created_at")
        assert Decimal(row.pop("quantity")) == want.pop("quantity")
        for money in ("cost_usd", "credits", "saved_usd"):
            got, sent = Decimal(row.pop(money)), want.pop(money)
            assert got == sent if exact else float(got) == float(sent)
        assert {k: row[k] for k in want} == want
