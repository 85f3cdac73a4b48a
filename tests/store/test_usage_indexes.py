"""The ledger's experiment index is partial: only the calls an experiment chose are in it, so every other call's
insert skips it (on the hot path), and the reads that name an experiment (its results, the request log's filter)
still use it, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select, text

from oneflow_ai.store.db import create_engine, migrate
from oneflow_ai.store.tables import usage_records

INDEX = "ix_usage_records_experiment"


def test_the_experiment_index_holds_experiment_calls_only(database_url: str) -> None:
    async def check() -> tuple[str, str]:
        engine = create_engine(database_url)
        try:
            await migrate(engine)
            u = usage_records.c
            query = select(u.variant, func.count()).where(u.experiment == "exp_1").group_by(u.variant)
            async with engine.connect() as conn:
                if engine.dialect.name == "sqlite":
                    found = f"SELECT sql FROM sqlite_master WHERE name = '{INDEX}'"
                    explain = "EXPLAIN QUERY PLAN "
                else:
                    found = f"SELECT indexdef FROM pg_indexes WHERE indexname = '{INDEX}'"
                    await conn.execute(text("SET enable_seqscan = off"))  # an empty table: scanned otherwise
                    explain = "EXPLAIN "
                definition = (await conn.execute(text(found))).scalar_one()
                compiled = query.compile(engine.sync_engine, compile_kwargs={"literal_binds": True})
                plan: list[Any] = list(await conn.execute(text(explain + str(compiled))))
            return str(definition), " ".join(str(row) for row in plan)
        finally:
            await engine.dispose()

    definition, plan = asyncio.run(check())
    assert "WHERE" in definition.upper() and "experiment IS NOT NULL" in definition.replace("(", "").replace(")", "")
    assert INDEX in plan
