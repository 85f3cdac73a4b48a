"""Identity tables (SQLAlchemy Core), on the store's shared `metadata`. Migration 0003 creates them.

Every row of tenant data carries `tenant_id`; every query the admin API makes filters on it (see `roles.scope`).
Users are never removed: a deleted one keeps its row (`deleted_at`) for what names it (0006).
Timestamps are timezone-aware UTC on both dialects (`UTCDateTime`: SQLite hands back naive values).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, ForeignKey, Index, Integer, String, Table, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from oneflow_ai.store.tables import metadata

DEFAULT_TENANT = "default"
"""The tenant migration 0003 creates, where the master key's keys and users go when it names no other."""


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def now_utc() -> datetime:
    return datetime.now(UTC)


ID = 64

tenants = Table(
    "tenants",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("rpm_limit", Integer),
    Column("tpm_limit", Integer),
    Column("created_at", UTCDateTime, nullable=False),
)

departments = Table(
    "departments",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("tenant_id", String(ID), ForeignKey("tenants.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("tenant_id", "name", name="uq_departments_tenant_name"),
)

users = Table(
    "users",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("tenant_id", String(ID), ForeignKey("tenants.id"), nullable=False),
    Column("department_id", String(ID), ForeignKey("departments.id")),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", UTCDateTime),
    Column("rpm_limit", Integer),
    Column("tpm_limit", Integer),
    Column("created_at", UTCDateTime, nullable=False),
    Column("disabled_at", UTCDateTime),
    Column("deleted_at", UTCDateTime),
    # migration 0010: the single sign-on identity (issuer, subject) of a user provisioned by OIDC
    Column("sso_issuer", String(512)),
    Column("sso_subject", String(255)),
    Index("ix_users_tenant", "tenant_id"),
    UniqueConstraint("sso_issuer", "sso_subject", name="uq_users_sso"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("prefix", String(32), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("user_id", String(ID), ForeignKey("users.id")),
    Column("department_id", String(ID), ForeignKey("departments.id")),
    Column("tenant_id", String(ID), ForeignKey("tenants.id"), nullable=False),
    Column("allowed_models", JSON),
    Column("rpm_limit", Integer),
    Column("rph_limit", Integer),
    Column("tpm_limit", Integer),
    Column("budget_id", String(ID)),
    Column("expires_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    Column("rotated_from", String(ID)),
    Column("grace_until", UTCDateTime),
    Column("metadata", JSON),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime),
    Index("ix_api_keys_tenant", "tenant_id"),
    Index("ix_api_keys_user", "user_id"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("user_id", String(ID), ForeignKey("users.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    Column("revoked_reason", String(32)),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("session_id", String(ID), ForeignKey("sessions.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
    Index("ix_refresh_tokens_session", "session_id"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("tenant_id", String(ID)),
    Column("actor_key_id", String(ID)),
    Column("actor_user_id", String(ID)),
    Column("action", String(64), nullable=False),
    Column("target_type", String(32)),
    Column("target_id", String(ID)),
    Column("source_ip", String(64)),
    Column("detail", JSON),
    Index("ix_audit_log_tenant_at", "tenant_id", "at"),
)
