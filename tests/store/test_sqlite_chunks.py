"""SQLite ledger statements come in a few fixed sizes, so the prepared statements (and their texts) stay few
however the batches vary."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from oneflow_ai.store.db import create_engine, migrate
from oneflow_ai.store.ledger import Ledger, UsageRecord
from oneflow_ai.store.usage_insert import sqlite_chunks, sqlite_sizes


@given(st.integers(min_value=0, max_value=5000))
def test_chunks_cover_every_row_once_in_the_fixed_sizes(n: int) -> None:
    chunks = list(sqlite_chunks(n))
    assert [start for start, _ in chunks] == [0, *(stop for _, stop in chunks[:-1])][: len(chunks)]
    assert sum(stop - start for start, stop in chunks) == n
    assert all(stop - start in sqlite_sizes() for start, stop in chunks)
    assert len(chunks) <= n // sqlite_sizes()[0] + 3 * (len(sqlite_sizes()) - 1)


def test_batches_of_every_size_use_only_the_fixed_statements(tmp_path: Path) -> None:
    at = datetime(2025, 1, 1, tzinfo=UTC)

    def record(i: int) -> UsageRecord:
        return UsageRecord(
            request_id=f"r-{i}",
            created_at=at + timedelta(seconds=i),
            endpoint="chat",
            requested_model="m",
            status="ok",
            http_status=200,
            cost_usd=Decimal("0.001"),
            credits=Decimal("0.1"),
            usage_source="upstream",
            input_tokens=1,
            output_tokens=1,
        )

    async def go() -> tuple[int, int]:
        engine = create_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
        try:
            await migrate(engine)
            ledger = Ledger(engine, batch_size=10_000)
            written = 0
            for size in range(1, 300, 7):  # 43 batch sizes
                for _ in range(size):
                    ledger.record(record(written))
                    written += 1
                await ledger.flush()
            statements = len(ledger._writer._insert._statements)  # type: ignore[attr-defined]
            await ledger.close()
            async with engine.connect() as conn:
                count = (await conn.exec_driver_sql("SELECT count(*) FROM usage_records")).scalar_one()
            assert count == written
            return statements, written
        finally:
            await engine.dispose()

    statements, written = asyncio.run(go())
    assert written > 6000
    assert statements <= len(sqlite_sizes())
