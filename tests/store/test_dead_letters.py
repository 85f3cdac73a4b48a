"""Issue 14 #1: a record the database refuses is set aside as a dead letter and every other record of its batch
is written (and counted once in the aggregates), on SQLite and on PostgreSQL; a database that cannot answer
keeps every record for the next try and sets none aside."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from oneflow_ai.store.db import create_engine, migrate
from oneflow_ai.store.dead_letters import as_json, refused
from oneflow_ai.store.ledger import Ledger, UsageRecord
from oneflow_ai.store.tables import ledger_dead_letters, usage_hourly, usage_records

START = datetime(2026, 5, 1, 9, tzinfo=UTC)


def records(tag: str, n: int) -> list[UsageRecord]:
    return [
        UsageRecord(
            request_id=f"{tag}-{i}",
            created_at=START + timedelta(seconds=i),
            endpoint="chat",
            requested_model="mini",
            status="ok",
            http_status=200,
            cost_usd=Decimal("0.000001") * (i + 1),
            credits=Decimal("0.0001") * (i + 1),
            usage_source="upstream",
            end_user=tag,
            input_tokens=10,
            output_tokens=i,
        )
        for i in range(n)
    ]


async def read(engine: Any, tag: str) -> tuple[list[str], list[dict[str, Any]], int]:
    """(the ids written, the dead letters, the requests the hourly aggregate counted) of this test's records."""
    async with engine.connect() as conn:
        ids = (await conn.execute(select(usage_records.c.request_id).where(usage_records.c.end_user == tag))).scalars()
        mine = ledger_dead_letters.c.request_id.like(f"{tag}-%")
        letters = [dict(r._mapping) for r in await conn.execute(select(ledger_dead_letters).where(mine))]
        counted = (
            await conn.execute(select(func.sum(usage_hourly.c.requests)).where(usage_hourly.c.end_user == tag))
        ).scalar()
    return sorted(ids), letters, int(counted or 0)


def test_a_refused_record_is_set_aside_and_every_other_record_written(database_url: str) -> None:
    tag = f"dl-{uuid.uuid4().hex[:10]}"
    good = records(tag, 60)
    # a token count past 64 bits fails both stores; PostgreSQL also refuses a NUL and a value past its column
    poison = [replace(good[0], request_id=f"{tag}-big", input_tokens=2**64)]
    if not database_url.startswith("sqlite"):
        poison += [
            replace(good[0], request_id=f"{tag}-nul", served_model="gpt\x00"),
            replace(good[0], request_id=f"{tag}-long", deployment_id="d" * 300),
        ]
    batch = good[:20] + poison[:1] + good[20:45] + poison[1:] + good[45:]

    async def go() -> tuple[int, Ledger, tuple[list[str], list[dict[str, Any]], int]]:
        engine = create_engine(database_url)
        try:
            await migrate(engine)
            ledger = Ledger(engine, batch_size=500)
            for r in batch:
                ledger.record(r)
            written = await ledger.flush()
            await ledger.close()
            return written, ledger, await read(engine, tag)
        finally:
            await engine.dispose()

    written, ledger, (ids, letters, counted) = asyncio.run(go())
    assert written == len(good) and ledger.depth == 0 and ledger.unwritable is None
    assert ids == sorted(r.request_id for r in good)
    assert counted == len(good)  # the aggregates count each written record once, the refused ones not
    assert ledger.dead_lettered == len(poison)
    assert sorted(d["request_id"] for d in letters) == sorted(r.request_id for r in poison)
    for letter in letters:
        kept = orjson.loads(letter["record"])
        assert kept["request_id"] == letter["request_id"] and kept["end_user"] == tag and letter["error"]
    nul = [orjson.loads(d["record"]) for d in letters if d["request_id"].endswith("-nul")]
    assert all(k["served_model"] == "gpt\x00" for k in nul)  # kept as it came, escaped


def test_a_database_that_cannot_answer_keeps_every_record(database_url: str) -> None:
    tag = f"dl-{uuid.uuid4().hex[:10]}"
    batch = records(tag, 30)

    async def go() -> None:
        engine = create_engine(database_url)
        try:
            await migrate(engine)
            ledger = Ledger(engine, batch_size=500)
            async with engine.begin() as conn:  # the ledger's table is gone: every write fails, no record is at fault
                await conn.execute(text("ALTER TABLE usage_records RENAME TO usage_records_away"))
            try:
                for r in batch:
                    ledger.record(r)
                with pytest.raises(Exception) as failure:
                    await ledger.flush()
                assert not refused(failure.value)
                assert ledger.depth == len(batch) and ledger.dead_lettered == 0 and ledger.unwritable
            finally:
                async with engine.begin() as conn:
                    await conn.execute(text("ALTER TABLE usage_records_away RENAME TO usage_records"))
            assert await ledger.flush() == len(batch)
            assert ledger.depth == 0 and ledger.unwritable is None
            await ledger.close()
            ids, letters, counted = await read(engine, tag)
            assert ids == sorted(r.request_id for r in batch) and letters == [] and counted == len(batch)
        finally:
            await engine.dispose()

    asyncio.run(go())


def dbapi(orig: BaseException, *, invalidated: bool = False) -> DBAPIError:
    return DBAPIError("INSERT ...", None, orig, connection_invalidated=invalidated)


class PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("error", "is_refused"),
    [
        (dbapi(PgError("22001")), True),  # value too long
        (dbapi(PgError("22P05")), True),  # unsupported Unicode escape (a NUL)
        (dbapi(PgError("23502")), True),  # NOT NULL
        (dbapi(PgError("42P01")), False),  # no such table: the database's state, not the record's
        (dbapi(PgError("57P01")), False),  # the server is shutting down
        (dbapi(PgError("22001"), invalidated=True), False),
        (ConnectionRefusedError(), False),
        (TimeoutError(), False),
        (sqlite3.OperationalError("database is locked"), False),
        (sqlite3.IntegrityError("NOT NULL constraint failed"), True),
        (OverflowError("Python int too large to convert to SQLite INTEGER"), True),
        (orjson.JSONEncodeError("str is not valid UTF-8: surrogates not allowed"), True),
    ],
)
def test_refused_tells_the_data_from_the_database(error: BaseException, is_refused: bool) -> None:
    assert refused(error) is is_refused


def test_a_dead_letter_is_ascii_json_whatever_the_record_holds() -> None:
    odd = replace(records("x", 1)[0], end_user="a\x00\ud800é" + "z" * 300)
    text_ = as_json(odd)
    assert text_.isascii() and "\\u0000" in text_
    assert orjson.loads(text_.replace("\\ud800", ""))["cost_usd"] == "0.000001"
