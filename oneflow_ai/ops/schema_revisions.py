"""`oneflow db upgrade|downgrade|current`: Alembic run on a connection of the gateway's own engine."""

from __future__ import annotations

from sqlalchemy import Connection, text

from oneflow_ai.settings import Settings
from oneflow_ai.store.db import MIGRATIONS, create_engine, head_revision


async def upgrade(settings: Settings, revision: str = "head") -> str | None:
    """Bring the schema to `revision` (the newest by default); the revision it is at afterwards."""
    return await _run(settings, "upgrade", revision)


async def downgrade(settings: Settings, revision: str = "-1") -> str | None:
    """Take the schema back to `revision` (one revision back by default, `base` for an empty database)."""
    return await _run(settings, "downgrade", revision)


async def current(settings: Settings) -> tuple[str | None, str]:
    """The revision the database is at (None: never migrated) and the newest this code knows."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.db_url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(revision_of), head_revision()
    finally:
        await engine.dispose()


async def _run(settings: Settings, direction: str, revision: str) -> str | None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.db_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_alembic, direction, revision)
            return await conn.run_sync(revision_of)
    finally:
        await engine.dispose()


def _alembic(connection: Connection, direction: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    if direction == "upgrade":
        command.upgrade(cfg, revision)
    else:
        command.downgrade(cfg, revision)


def revision_of(connection: Connection) -> str | None:
    if not connection.dialect.has_table(connection, "alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
