"""Where the ledger's batches go: one transaction per batch that inserts the records (skipping ids already there)
and adds the inserted ones into the hourly and daily aggregates.

- `EngineWriter` (PostgreSQL): through the async engine, on the event loop (asyncpg is asynchronous I/O).
- `SQLiteWriter`: its own `sqlite3` connection in a thread of its own, a whole batch per hand-off. Through
  aiosqlite every statement is a hop between its thread and the event loop, and under load each hop waits for
  a turn of a busy loop: a batch of 500 records took over a second, while records kept arriving; the queue
  grew without bound (the benchmark saw the gateway's memory grow by 10 MiB every 10 s). Here a batch is one
  hop there and one back, and SQLite itself runs without the GIL.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.store import dead_letters
from oneflow_ai.store.aggregates import GRAINS, MONEY_DECIMALS, MONEY_SUMS, SUMS, Aggregates, Grain, Tally, rollup
from oneflow_ai.store.tables import AGGREGATE_DIMENSIONS, ledger_dead_letters
from oneflow_ai.store.usage_insert import UsageInsert, sqlite_chunks, sqlite_time

if TYPE_CHECKING:
    import sqlite3

    from oneflow_ai.store.ledger import UsageRecord


PRESENT = "SELECT request_id FROM usage_records WHERE request_id IN"

CACHE_KIB = 512
"""SQLite's page cache on the writer's connection (its default is 2,000 KiB, kept for the connection's life). A
batch touches the right edge of each table and index and the leaves its new ids fall in, all still in the OS's
page cache: the writer thread's CPU per batch of 500 was the same with either (26 vs 27 ms, 150,000 rows), and
the worker's SQLite memory after load 2.7 instead of 4.4 MiB (`bench.workers` load, docs/performance.md)."""


@functools.cache
def _present(n: int) -> str:
    """The query for which of `n` ids are written already (`n` one of the few `sqlite_sizes()`)."""
    return f"{PRESENT} ({', '.join('?' * n)})"


class Writer(Protocol):
    def note(self, record: UsageRecord) -> None:
        """A record was made (it will come to `write`, in the order noted): prepare what can be prepared now."""

    async def write(self, records: Sequence[UsageRecord]) -> None:
        """Insert the records and add the inserted ones to the aggregates (or raise: then nothing is kept, or
        what was kept is skipped when the records come again)."""

    def forget(self) -> None:
        """Drop what `note` prepared: the next `write` prepares its records itself (after a batch was split)."""

    async def set_aside(self, record: UsageRecord, error: str) -> None:
        """Keep a record the database refused as a dead letter, with the error (its own transaction)."""

    async def close(self) -> None: ...


class EngineWriter:
    """Writes on the event loop, so the aggregate sums are kept as records come (`Tally`): a flush is then the
    statements alone, not a pass over every record in between two requests."""

    def __init__(self, engine: AsyncEngine, batch_size: int = 500) -> None:
        self._engine = engine
        self.batch_size = batch_size
        self._insert = UsageInsert(engine.dialect.name)
        self._aggregates = Aggregates(engine.dialect.name)
        self._noted: list[UsageRecord] = []
        self._tally = Tally()

    def note(self, record: UsageRecord) -> None:
        self._noted.append(record)
        self._tally.add(record)

    async def write(self, records: Sequence[UsageRecord]) -> None:
        noted, tally = self._noted, self._tally
        self._noted, self._tally = [], Tally()
        if len(noted) != len(records) or any(a is not b for a, b in zip(noted, records, strict=True)):
            tally = Tally()  # records that were not noted, in that order: add them up now
            for r in records:
                tally.add(r)
        try:
            await self._write(records, tally)
        except BaseException:
            self._noted[:0] = records  # what `tally` now sums, ahead of the records noted meanwhile
            tally.absorb(self._tally)
            self._tally = tally
            raise

    async def _write(self, records: Sequence[UsageRecord], tally: Tally) -> None:
        """One transaction for the whole write (its inserts `batch_size` rows each): the aggregates then take the
        sums kept as records came, not a pass over the records in between two requests (a flush under load is
        often a little over `batch_size`: records keep coming while the one before is written)."""
        async with self._engine.begin() as conn:
            inserted: set[str] = set()
            for start in range(0, len(records), self.batch_size):
                inserted |= await self._insert(conn, records[start : start + self.batch_size])
            if len(inserted) == len(records):
                await self._aggregates.add_rows(conn, tally)
            else:  # some were written before (a batch tried again): add only the others' sums
                await self._aggregates.add(conn, (r for r in records if r.request_id in inserted))

    def forget(self) -> None:
        self._noted, self._tally = [], Tally()

    async def set_aside(self, record: UsageRecord, error: str) -> None:
        row = {
            "request_id": str(record.request_id),
            "created_at": datetime.now(UTC),
            "error": error,
            "record": dead_letters.as_json(record),
        }
        async with self._engine.begin() as conn:
            await conn.execute(insert(ledger_dead_letters), row)

    async def close(self) -> None:
        return None


class SQLiteWriter:
    def __init__(self, path: str, *, busy_timeout_s: float = 30.0) -> None:
        self._path = path
        self._busy_timeout_s = busy_timeout_s
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="oneflow-ledger")
        self._conn: sqlite3.Connection | None = None  # made, used and closed in the writer's thread only
        self._insert = UsageInsert("sqlite")
        self._upserts = [(grain, _sqlite_upsert(grain)) for grain in GRAINS]
        self._rows: list[tuple[Any, ...]] = []
        self._tally = Tally()
        """The rows and the aggregate sums of the records noted since the last write, made as they came."""

    def note(self, record: UsageRecord) -> None:
        self._rows.append(self._insert.sqlite_row(record))
        self._tally.add(record)

    async def write(self, records: Sequence[UsageRecord]) -> None:
        rows, tally = self._rows, self._tally
        self._rows, self._tally = [], Tally()
        if not _same(rows, records):  # records that were not noted, in that order: prepare them now
            rows, tally = [self._insert.sqlite_row(r) for r in records], Tally()
            for r in records:
                tally.add(r)
        try:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._write, records, rows, tally)
        except BaseException:
            self._rows[:0] = rows
            tally.absorb(self._tally)
            self._tally = tally
            raise

    def _write(self, records: Sequence[UsageRecord], rows: list[tuple[Any, ...]], tally: Tally) -> None:
        """One transaction of a few statements, all prepared beforehand, none stepping once per row: `sqlite3`
        gives up the GIL around every step, and under load each step waits for the event loop to give it back."""
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")  # the write lock first: the check for present ids holds until the commit
        try:
            present: set[str] = set()
            for start, stop in sqlite_chunks(len(rows)):
                ids = [row[0] for row in rows[start:stop]]
                present.update(r[0] for r in conn.execute(_present(len(ids)), ids))
            new = [row for row in rows if row[0] not in present] if present else rows
            for start, stop in sqlite_chunks(len(new)):
                chunk = new[start:stop]
                conn.execute(self._insert.sqlite_statement(len(chunk), returning=False), [v for r in chunk for v in r])
            for grain, (sql, order) in self._upserts:
                if present:  # some were written before (a batch tried again): add only the others' sums
                    buckets = rollup([r for r in records if r.request_id not in present], grain)
                else:
                    buckets = tally.rows(grain)
                if buckets:
                    conn.executemany(sql, [[_sqlite_value(b[name]) for name in order] for b in buckets])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def forget(self) -> None:
        self._rows, self._tally = [], Tally()

    async def set_aside(self, record: UsageRecord, error: str) -> None:
        row = (str(record.request_id), sqlite_time(datetime.now(UTC)), error, dead_letters.as_json(record))
        await asyncio.get_running_loop().run_in_executor(self._thread, self._set_aside, row)

    def _set_aside(self, row: tuple[str, str, str, str]) -> None:
        self._connection().execute(dead_letters.INSERT, row)  # autocommit: a transaction of its own

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            import sqlite3  # only a gateway on SQLite loads it

            conn = sqlite3.connect(self._path, timeout=self._busy_timeout_s, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            self._conn = conn
        return self._conn

    async def close(self) -> None:
        def closing() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._thread, closing)
        self._thread.shutdown(wait=True)


def writer_for(engine: AsyncEngine, batch_size: int = 500) -> Writer:
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        return SQLiteWriter(str(engine.url.database))
    return EngineWriter(engine, batch_size)


def _same(rows: list[tuple[Any, ...]], records: Sequence[UsageRecord]) -> bool:
    """Whether `rows` were made from exactly `records` (the ids at both ends, and the count)."""
    if len(rows) != len(records):
        return False
    return not rows or (rows[0][0] == records[0].request_id and rows[-1][0] == records[-1].request_id)


def _sqlite_upsert(grain: Grain) -> tuple[str, list[str]]:
    """The aggregate upsert as SQLite SQL with `?` parameters, and the order of the columns they take. Money sums
    are rounded to the column's decimals as they are added (a float: error would otherwise gather, batch by batch)."""
    name = grain.table.name
    columns = [grain.bucket, *AGGREGATE_DIMENSIONS, *SUMS]
    conflict = ", ".join([grain.bucket, *AGGREGATE_DIMENSIONS])
    sums = ", ".join(
        f"{c} = ROUND({name}.{c} + excluded.{c}, {MONEY_DECIMALS})"
        if c in MONEY_SUMS
        else f"{c} = {name}.{c} + excluded.{c}"
        for c in SUMS
    )
    sql = (
        f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT ({conflict}) DO UPDATE SET {sums}"
    )
    return sql, columns


def _sqlite_value(value: Any) -> Any:
    """As SQLAlchemy stores it on SQLite: times as text, money as a float."""
    if isinstance(value, datetime):
        return sqlite_time(value)
    if isinstance(value, Decimal):
        return float(value)
    return value
