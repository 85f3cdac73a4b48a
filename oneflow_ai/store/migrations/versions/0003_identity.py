"""Identity: tenants, departments, users, virtual API keys, login sessions and refresh tokens, the audit log.

Revision ID: 0003
Revises: 0002
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = 64


def upgrade() -> None:
    tenants = op.create_table(
        "tenants",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("rpm_limit", sa.Integer),
        sa.Column("tpm_limit", sa.Integer),
        sa.Column("created_at", TS, nullable=False),
    )
    op.bulk_insert(tenants, [{"id": "default", "name": "Default", "created_at": datetime.now(UTC)}])
    op.create_table(
        "departments",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("tenant_id", sa.String(ID), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("tenant_id", "name", name="uq_departments_tenant_name"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("tenant_id", sa.String(ID), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("department_id", sa.String(ID), sa.ForeignKey("departments.id")),
        sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
        sa.Column("locked_until", TS),
        sa.Column("rpm_limit", sa.Integer),
        sa.Column("tpm_limit", sa.Integer),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_users_tenant", "users", ["tenant_id"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("user_id", sa.String(ID), sa.ForeignKey("users.id")),
        sa.Column("department_id", sa.String(ID), sa.ForeignKey("departments.id")),
        sa.Column("tenant_id", sa.String(ID), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("allowed_models", sa.JSON),
        sa.Column("rpm_limit", sa.Integer),
        sa.Column("rph_limit", sa.Integer),
        sa.Column("tpm_limit", sa.Integer),
        sa.Column("budget_id", sa.String(ID)),
        sa.Column("expires_at", TS),
        sa.Column("revoked_at", TS),
        sa.Column("rotated_from", sa.String(ID)),
        sa.Column("grace_until", TS),
        sa.Column("metadata", sa.JSON),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_used_at", TS),
    )
    op.create_index("ix_api_keys_tenant", "api_keys", ["tenant_id"])
    op.create_index("ix_api_keys_user", "api_keys", ["user_id"])
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("user_id", sa.String(ID), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS),
        sa.Column("revoked_reason", sa.String(32)),
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("session_id", sa.String(ID), sa.ForeignKey("sessions.id"), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS),
    )
    op.create_index("ix_refresh_tokens_session", "refresh_tokens", ["session_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("tenant_id", sa.String(ID)),
        sa.Column("actor_key_id", sa.String(ID)),
        sa.Column("actor_user_id", sa.String(ID)),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_type", sa.String(32)),
        sa.Column("target_id", sa.String(ID)),
        sa.Column("source_ip", sa.String(64)),
        sa.Column("detail", sa.JSON),
    )
    op.create_index("ix_audit_log_tenant_at", "audit_log", ["tenant_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_tenant_at", "audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_refresh_tokens_session", "refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_table("sessions")
    op.drop_index("ix_api_keys_user", "api_keys")
    op.drop_index("ix_api_keys_tenant", "api_keys")
    op.drop_table("api_keys")
    op.drop_index("ix_users_tenant", "users")
    op.drop_table("users")
    op.drop_table("departments")
    op.drop_table("tenants")
