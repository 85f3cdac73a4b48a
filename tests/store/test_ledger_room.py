"""The ledger's high-water mark: past it, new calls wait for the writer instead of queueing records without bound."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from oneflow_ai.store.db import create_engine
from oneflow_ai.store.ledger import Ledger, UsageRecord


class SlowWriter:
    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.written = 0

    def note(self, record: UsageRecord) -> None:
        return None

    async def write(self, records: Sequence[UsageRecord]) -> None:
        await self.gate.wait()
        self.written += len(records)

    async def close(self) -> None:
        return None


def record(i: int) -> UsageRecord:
    return UsageRecord(f"r{i}", datetime.now(UTC), "chat", "m", "ok", 200, Decimal(0), Decimal(0), "none")


async def test_room_waits_until_the_writer_is_back_under_half_the_high_water_mark(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'l.db'}")
    ledger = Ledger(engine, batch_size=10, interval_s=0.01, high_water=100)
    writer = SlowWriter()
    ledger._writer = writer
    ledger.start()
    for i in range(150):
        ledger.record(record(i))
    assert ledger.depth == 150 > ledger.high_water
    waiting = asyncio.ensure_future(ledger.room())
    await asyncio.sleep(0.05)
    assert not waiting.done() and ledger.depth == 150  # taken by the flush, not written: still counted
    writer.gate.set()
    await asyncio.wait_for(waiting, 2)
    assert ledger.depth <= 50 and writer.written == 150
    await ledger.close()
    assert writer.written == 150 and ledger.depth == 0
    await engine.dispose()


async def test_room_answers_at_once_under_the_mark(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'l.db'}")
    ledger = Ledger(engine, high_water=100)
    ledger.record(record(1))
    await asyncio.wait_for(ledger.room(), 0.1)
    await ledger._writer.close()
    await engine.dispose()
