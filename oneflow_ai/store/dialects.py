"""The SQL dialect module of the database in use, for its `insert` with the ON CONFLICT clauses (upserts), imported
on first use: a gateway on SQLite never loads PostgreSQL's dialect (19 modules, 2.2 MiB of every worker)."""

from __future__ import annotations

import importlib
from types import ModuleType


def upsert_dialect(name: str) -> ModuleType:
    """`sqlalchemy.dialects.postgresql` for PostgreSQL, `sqlalchemy.dialects.sqlite` for anything else (SQLite)."""
    return importlib.import_module("sqlalchemy.dialects." + ("postgresql" if name == "postgresql" else "sqlite"))
