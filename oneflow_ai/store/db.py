"""The database engine (SQLite by default, PostgreSQL with DATABASE_URL) and in-process migrations."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, event, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).parent / "migrations"
COMPATIBLE_AHEAD = 1
"""How many revisions newer than this code's newest a database may be for this code to run on it. Every migration
keeps the previous release's code working (nullable columns, columns with server defaults, new tables; a column is
dropped only a release after the code stopped reading it), so during a rolling upgrade the replicas not yet replaced
run on the schema the new release migrated (README: "Upgrading")."""

log = logging.getLogger("oneflow")


class SchemaTooNew(RuntimeError):
    """The database was migrated further than this release can run on."""


def async_url(url: str) -> str:
    """Accept the URLs people write (postgres://, postgresql://, sqlite:///) and pick the async driver."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    return url


def create_engine(url: str) -> AsyncEngine:
    url = async_url(url)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_size=5, max_overflow=10, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    """Write-ahead logging: readers (the usage API) never block the ledger's writer, nor it them, and a commit
    appends to the log instead of rewriting pages. `synchronous=NORMAL` syncs at checkpoints, not at every
    commit: a power cut may lose the last commits, never corrupts the file (SQLite's advice for WAL)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def head_revision() -> str:
    """The newest migration's revision: revisions are numbered like their files (`0004_usage_daily.py` is 0004)."""
    return max(p.name.split("_", 1)[0] for p in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision (a no-op when it is there already). A database already at the
    newest revision is recognised without Alembic, so a server whose database was migrated beforehand (`oneflow
    serve` runs `oneflow migrate` in a child process) never loads Alembic (~11 MiB of memory). A database up to
    `COMPATIBLE_AHEAD` revisions newer (a newer release migrated it: a rolling upgrade under way) is used as it is;
    further ahead, `SchemaTooNew` is raised."""
    async with engine.begin() as conn:
        at, head = await conn.run_sync(_current_revision), head_revision()
        if at == head:
            return
        if ahead_by(at, head):
            check_ahead(at, head)
            return
        await conn.run_sync(_upgrade)


def ahead_by(at: str | None, head: str) -> int:
    """How many revisions `at` is past `head` (0 when it is not: older, equal, or none)."""
    if at is None or not at.isdigit() or _known(at):
        return 0
    return max(0, int(at) - int(head))


def _known(revision: str) -> bool:
    return any((MIGRATIONS / "versions").glob(f"{revision}_*.py"))


def check_ahead(at: str | None, head: str) -> None:
    """Log that this release runs on a newer schema, or raise `SchemaTooNew` when it is too far ahead."""
    distance = ahead_by(at, head)
    if distance > COMPATIBLE_AHEAD:
        raise SchemaTooNew(
            f"the database is at schema revision {at}, {distance} revisions newer than this release knows ({head}); "
            f"a release runs on a schema at most {COMPATIBLE_AHEAD} revision newer than its own: upgrade this "
            "release (or run `oneflow db downgrade` with the newer release first)"
        )
    if distance:
        log.warning(
            "the database is at schema revision %s, newer than this release's %s: running on it (a rolling upgrade: "
            "migrations keep the previous release working)",
            at,
            head,
        )


def _current_revision(connection: Connection) -> str | None:
    if not connection.dialect.has_table(connection, "alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _upgrade(connection: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
