"""Billing: daily usage aggregates (`usage_daily`), the shape of `usage_hourly` with a UTC day as the bucket.

The new table is filled from the hourly aggregates already there (which outlive the raw records), so a report
answers the same from either table; from then on the ledger adds into both in the same transaction.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(20, 12)

# As in 0002: NULL is stored as '' so the unique bucket key upserts alike on SQLite and PostgreSQL.
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
SUMS = ("requests", "input_tokens", "output_tokens", "cached_tokens", "cost_usd", "credits", "errors")


def upgrade() -> None:
    op.create_table(
        "usage_daily",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("day", sa.DateTime(timezone=True), nullable=False),
        *(sa.Column(name, sa.String(size), nullable=False, server_default="") for name, size in DIMENSIONS),
        sa.Column("requests", sa.Integer, nullable=False, server_default="0"),
        sa.Column("input_tokens", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("output_tokens", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("cached_tokens", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("cost_usd", MONEY, nullable=False, server_default="0"),
        sa.Column("credits", MONEY, nullable=False, server_default="0"),
        sa.Column("errors", sa.Integer, nullable=False, server_default="0"),
        sa.UniqueConstraint("day", *(name for name, _ in DIMENSIONS), name="uq_usage_daily_bucket"),
    )
    op.create_index("ix_usage_daily_day", "usage_daily", ["day"])
    op.create_index("ix_usage_daily_key", "usage_daily", ["key_id", "day"])
    op.create_index("ix_usage_daily_tenant", "usage_daily", ["tenant_id", "day"])

    # Backfill from the hourly buckets. Both store UTC: SQLite as 'YYYY-MM-DD HH:MM:SS.ffffff' text (the format
    # SQLAlchemy writes), PostgreSQL as timestamptz.
    if op.get_bind().dialect.name == "sqlite":
        day = "substr(hour, 1, 10) || ' 00:00:00.000000'"
    else:
        day = "date_trunc('day', hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    dims = ", ".join(name for name, _ in DIMENSIONS)
    sums = ", ".join(SUMS)
    op.execute(
        f"INSERT INTO usage_daily (day, {dims}, {sums}) "
        f"SELECT {day} AS d, {dims}, {', '.join(f'SUM({s})' for s in SUMS)} "
        f"FROM usage_hourly GROUP BY d, {dims}"
    )


def downgrade() -> None:
    op.drop_index("ix_usage_daily_tenant", "usage_daily")
    op.drop_index("ix_usage_daily_key", "usage_daily")
    op.drop_index("ix_usage_daily_day", "usage_daily")
    op.drop_table("usage_daily")
