"""Table definitions (SQLAlchemy Core). Alembic migrations under `migrations/` create them."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
)

metadata = MetaData()

# Money columns: NUMERIC(20, 12) keeps a per-token price times a token count exactly.
MONEY = Numeric(20, 12)

usage_records = Table(
    "usage_records",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("key_id", String(64)),
    Column("user_id", String(128)),
    Column("end_user", String(256)),
    Column("department_id", String(64)),
    Column("tenant_id", String(64)),
    Column("endpoint", String(32), nullable=False),
    Column("requested_model", String(128), nullable=False),
    Column("served_model", String(128)),
    Column("provider", String(32)),
    Column("deployment_id", String(160)),
    Column("input_tokens", Integer, nullable=False, default=0),
    Column("output_tokens", Integer, nullable=False, default=0),
    Column("cached_tokens", Integer, nullable=False, default=0),
    Column("cost_usd", MONEY, nullable=False),
    Column("credits", MONEY, nullable=False),
    Column("latency_ms", Float),
    Column("ttft_ms", Float),
    Column("status", String(24), nullable=False),
    Column("http_status", Integer, nullable=False),
    Column("attempts", Integer, nullable=False, default=1),
    Column("cache_hit", Boolean, nullable=False, default=False),
    Column("streamed", Boolean, nullable=False, default=False),
    Column("usage_source", String(16), nullable=False),
    Index("ix_usage_records_created_at", "created_at"),
)
