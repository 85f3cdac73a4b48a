"""Billing: hourly usage aggregates, budgets and budget threshold events.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(20, 12)

# The aggregate's dimensions. NULL is stored as '' so the unique constraint (and upserts on it) work alike on
# SQLite and PostgreSQL, where NULLs never conflict.
DIMENSIONS = (
    ("key_id", 64),
    ("user_id", 128),
    ("end_user", 256),
    ("department_id", 64),
    ("tenant_id", 64),
    ("requested_model", 128),
    ("served_model", 128),
    ("provider", 32),
)


def upgrade() -> None:
    op.create_table(
        "usage_hourly",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        *(sa.Column(name, sa.String(size), nullable=False, server_default="") for name, size in DIMENSIONS),
        sa.Column("requests", sa.Integer, nullable=False, server_default="0"),
        sa.Column("input_tokens", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("output_tokens", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("cached_tokens", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("cost_usd", MONEY, nullable=False, server_default="0"),
        sa.Column("credits", MONEY, nullable=False, server_default="0"),
        sa.Column("errors", sa.Integer, nullable=False, server_default="0"),
        sa.UniqueConstraint("hour", *(name for name, _ in DIMENSIONS), name="uq_usage_hourly_bucket"),
    )
    op.create_index("ix_usage_hourly_hour", "usage_hourly", ["hour"])
    op.create_index("ix_usage_hourly_key", "usage_hourly", ["key_id", "hour"])
    op.create_index("ix_usage_hourly_tenant", "usage_hourly", ["tenant_id", "hour"])
    op.create_table(
        "budgets",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("scope_id", sa.String(256), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("limit_usd", MONEY, nullable=False),
        sa.Column("thresholds", sa.String(128), nullable=False, server_default="0.5,0.8,1.0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_budgets_scope", "budgets", ["scope", "scope_id"])
    op.create_table(
        "budget_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("budget_id", sa.String(64), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("threshold", sa.Numeric(6, 4), nullable=False),
        sa.Column("spend_usd", MONEY, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("budget_id", "period_start", "threshold", name="uq_budget_events_once"),
    )


def downgrade() -> None:
    op.drop_table("budget_events")
    op.drop_index("ix_budgets_scope", "budgets")
    op.drop_table("budgets")
    op.drop_index("ix_usage_hourly_tenant", "usage_hourly")
    op.drop_index("ix_usage_hourly_key", "usage_hourly")
    op.drop_index("ix_usage_hourly_hour", "usage_hourly")
    op.drop_table("usage_hourly")
