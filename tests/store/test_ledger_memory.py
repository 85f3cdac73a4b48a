"""The SQLite ledger's memory stays bounded: its writer's page cache and the size of its prepared statements (each
stays prepared in `sqlite3`'s cache for the process's life)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from oneflow_ai.store.db import create_engine, migrate
from oneflow_ai.store.ledger_writer import CACHE_KIB, SQLiteWriter
from oneflow_ai.store.usage_insert import sqlite_chunks, sqlite_sizes


def test_the_writers_page_cache_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"

    async def go() -> int:
        engine = create_engine(f"sqlite:///{path}")
        await migrate(engine)
        await engine.dispose()
        writer = SQLiteWriter(str(path))

        def cache_size() -> int:  # in the writer's thread, where its connection lives
            return int(writer._connection().execute("PRAGMA cache_size").fetchone()[0])

        try:
            return await asyncio.get_running_loop().run_in_executor(writer._thread, cache_size)
        finally:
            await writer.close()

    cache_size = asyncio.run(go())
    assert cache_size == -CACHE_KIB  # negative: KiB (SQLite's own default is -2000)
    assert CACHE_KIB <= 512


def test_no_statement_holds_more_than_64_rows() -> None:
    # The 256-row insert took 858 KiB of SQLite's memory once prepared, the 64-row one 186 KiB.
    assert max(sqlite_sizes()) <= 64
    assert max(stop - start for start, stop in sqlite_chunks(500)) <= 64
