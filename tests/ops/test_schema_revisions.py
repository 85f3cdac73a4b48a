"""`oneflow db upgrade|downgrade|current` on PostgreSQL and SQLite: every revision goes up and comes back down
(a database of this test's own: base drops every table)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect

from oneflow_ai.ops import schema_revisions
from oneflow_ai.settings import Settings
from oneflow_ai.store.db import create_engine, head_revision
from tests.conftest import POSTGRES_ADMIN_URL


@pytest.fixture(params=["sqlite", "postgres"])
def own_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'oneflow.db'}"
        return
    import asyncpg

    name = f"oneflow_revisions_{uuid.uuid4().hex[:12]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def tables(url: str) -> set[str]:
    async def names() -> set[str]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        finally:
            await engine.dispose()

    return asyncio.run(names())


def test_upgrade_downgrade_and_current(own_database: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=own_database)
    head = head_revision()
    previous = f"{int(head) - 1:04d}"
    assert asyncio.run(schema_revisions.current(settings)) == (None, head)
    assert asyncio.run(schema_revisions.upgrade(settings)) == head
    assert {"usage_records", "alembic_version"} <= tables(own_database)
    assert asyncio.run(schema_revisions.downgrade(settings)) == previous  # one revision by default
    assert asyncio.run(schema_revisions.current(settings)) == (previous, head)
    assert asyncio.run(schema_revisions.downgrade(settings, "base")) is None
    assert tables(own_database) <= {"alembic_version"}
    assert asyncio.run(schema_revisions.upgrade(settings, previous)) == previous
    assert asyncio.run(schema_revisions.upgrade(settings)) == head
