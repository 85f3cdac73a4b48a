"""The ledger's insert of a batch of usage records, as the database's own SQL (not compiled per batch).

SQLAlchemy's compiled multi-row insert costs about 30 us of CPU per row (parameter processing in Python);
the statements here cost a few: one multi-row `INSERT ... VALUES (...), (...)` on SQLite (values converted to
what SQLAlchemy itself would store: text timestamps, float money), one `INSERT ... SELECT FROM
json_to_recordset($1)` on PostgreSQL: the batch is one JSON text made by orjson in C (money as decimal strings,
so exact), parsed by PostgreSQL on its side. (Sent as arrays per column, asyncpg's encoder checked every element
against the collection ABCs in Python: 34 `isinstance` calls per record.) Both skip ids already present and
return the ids they inserted, so the aggregates count each record once however often a batch is retried.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

if TYPE_CHECKING:
    from oneflow_ai.store.ledger import UsageRecord

COLUMNS = (
    "request_id",
    "created_at",
    "endpoint",
    "requested_model",
    "status",
    "http_status",
    "cost_usd",
    "credits",
    "usage_source",
    "key_id",
    "user_id",
    "end_user",
    "department_id",
    "tenant_id",
    "served_model",
    "provider",
    "deployment_id",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "latency_ms",
    "ttft_ms",
    "attempts",
    "cache_hit",
    "streamed",
    "cache_kind",
    "saved_usd",
    "guardrail",
    "guardrail_action",
    "unit",
    "quantity",
    "experiment",
    "variant",
)
"""The columns the rows below fill, in their order: `UsageRecord`'s fields (checked when an insert is built)."""

PG_TYPES = {
    "created_at": "timestamptz",
    "input_tokens": "int",
    "output_tokens": "int",
    "cached_tokens": "int",
    "cost_usd": "numeric",
    "credits": "numeric",
    "latency_ms": "float8",
    "ttft_ms": "float8",
    "http_status": "int",
    "attempts": "int",
    "cache_hit": "bool",
    "streamed": "bool",
    "saved_usd": "numeric",
    "quantity": "numeric",
}
"""PostgreSQL types of the non-text columns, as `json_to_recordset` reads them."""


@functools.cache
def sqlite_sizes() -> tuple[int, ...]:
    """The only statement sizes used, largest first (64, 16, 4, 1 rows): a statement of each size is prepared and
    cached once. Sized to each batch instead, every new size was a new statement, its text kept here and its
    prepared form in `sqlite3`'s cache: tens of MB after a few minutes of varied batches.

    At most 64 rows: a prepared statement's size grows with its rows (SQLite's memory for the 256-row insert was
    858 KiB, the 64-row one 186 KiB) and each size stays prepared in `sqlite3`'s cache for the process's life; a
    batch of 500 takes 11 statements instead of 8, the same work per row. At most 16 on SQLite before 3.32, which
    allows at most 999 bound values in one statement. Asked on first use: only a gateway on SQLite loads `sqlite3`."""
    import sqlite3

    rows = 64 if sqlite3.sqlite_version_info >= (3, 32, 0) else 16
    return tuple(4**k for k in range(rows.bit_length() // 2, -1, -1))


def sqlite_chunks(n: int) -> Iterator[tuple[int, int]]:
    """(start, stop) slices covering `n` rows, each of one of `sqlite_sizes()`, largest first."""
    start = 0
    for size in sqlite_sizes():
        while n - start >= size:
            yield start, start + size
            start += size


def sqlite_time(ts: datetime) -> str:
    """What SQLAlchemy's DateTime stores on SQLite: UTC, `YYYY-MM-DD HH:MM:SS.ffffff`, no offset."""
    if ts.tzinfo is not None and ts.utcoffset():
        ts = ts.astimezone(UTC)
    return (
        f"{ts.year:04d}-{ts.month:02d}-{ts.day:02d} {ts.hour:02d}:{ts.minute:02d}:{ts.second:02d}.{ts.microsecond:06d}"
    )


class UsageInsert:
    """`await insert(conn, records)` -> the request ids it inserted (those not already in the table)."""

    def __init__(self, dialect_name: str) -> None:
        from oneflow_ai.store.ledger import UsageRecord

        if tuple(f.name for f in fields(UsageRecord)) != COLUMNS:
            raise RuntimeError("UsageRecord's fields changed: update COLUMNS and the row functions in usage_insert.py")
        self._columns = COLUMNS
        self._sqlite = dialect_name == "sqlite"
        self._statements: dict[tuple[int, bool], str] = {}
        names = ", ".join(self._columns)
        if not self._sqlite:
            shape = ", ".join(f"{c} {PG_TYPES.get(c, 'varchar')}" for c in self._columns)
            self._pg = (
                f"INSERT INTO usage_records ({names}) SELECT {names} FROM json_to_recordset($1::text::json) "
                f"AS r({shape}) ON CONFLICT (request_id) DO NOTHING RETURNING request_id"
            )
        self._names = names

    async def __call__(self, conn: AsyncConnection, records: Sequence[UsageRecord]) -> set[str]:
        if not records:
            return set()
        if not self._sqlite:
            rows = orjson.dumps(records, default=str, option=orjson.OPT_NAIVE_UTC).decode()
            result = await conn.exec_driver_sql(self._pg, (rows,))
            return {row[0] for row in result}
        inserted: set[str] = set()
        for start, stop in sqlite_chunks(len(records)):
            chunk = records[start:stop]
            values: list[Any] = []
            for r in chunk:
                values.extend(self.sqlite_row(r))
            result = await conn.exec_driver_sql(self.sqlite_statement(len(chunk)), tuple(values))
            inserted.update(row[0] for row in result)
        return inserted

    def sqlite_statement(self, rows: int, *, returning: bool = True) -> str:
        sql = self._statements.get((rows, returning))
        if sql is None:
            one = "(" + ", ".join("?" * len(self._columns)) + ")"
            sql = self._statements[(rows, returning)] = (
                f"INSERT INTO usage_records ({self._names}) VALUES {', '.join([one] * rows)} "
                "ON CONFLICT (request_id) DO NOTHING" + (" RETURNING request_id" if returning else "")
            )
        return sql

    def sqlite_row(self, r: UsageRecord) -> tuple[Any, ...]:
        return (
            r.request_id,
            sqlite_time(r.created_at),
            r.endpoint,
            r.requested_model,
            r.status,
            r.http_status,
            float(r.cost_usd),
            float(r.credits),
            r.usage_source,
            r.key_id,
            r.user_id,
            r.end_user,
            r.department_id,
            r.tenant_id,
            r.served_model,
            r.provider,
            r.deployment_id,
            r.input_tokens,
            r.output_tokens,
            r.cached_tokens,
            r.latency_ms,
            r.ttft_ms,
            r.attempts,
            int(r.cache_hit),
            int(r.streamed),
            r.cache_kind,
            float(r.saved_usd),
            r.guardrail,
            r.guardrail_action,
            r.unit,
            float(r.quantity),
            r.experiment,
            r.variant,
        )
