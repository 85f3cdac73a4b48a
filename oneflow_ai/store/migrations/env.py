"""Alembic environment. Migrations run on a connection the application hands over (`db.migrate`)."""

from __future__ import annotations

from alembic import context

from oneflow_ai.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through oneflow_ai.store.db.migrate (or `oneflow db upgrade`)")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
