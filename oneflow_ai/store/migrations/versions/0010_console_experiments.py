"""The console and analytics (issue 19): experiments and their variants on each ledger record, feedback scores,
a latency histogram in the usage aggregates (p95 without reading raw rows), an index for the per-tenant request
log, and the single sign-on identity of a user. Nullable columns, columns with server defaults and new tables
only: the previous release's code runs on this schema.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
LATENCY_COLUMNS = (
    "lat_le_100",
    "lat_le_250",
    "lat_le_500",
    "lat_le_1000",
    "lat_le_2500",
    "lat_le_5000",
    "lat_le_10000",
    "lat_le_30000",
    "lat_gt_30000",
)
"""Kept equal to `store.tables.LATENCY_COLUMNS` (a migration never imports the application's code)."""


def upgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(sa.Column("experiment", sa.String(64)))
        batch.add_column(sa.Column("variant", sa.String(64)))
    op.create_index("ix_usage_records_tenant_created", "usage_records", ["tenant_id", "created_at"])
    # partial: the calls of an experiment only, so that every other call's insert skips it (`experiment = ?`,
    # the only way it is read, implies the condition on both databases)
    only_experiments = sa.text("experiment IS NOT NULL")
    op.create_index(
        "ix_usage_records_experiment",
        "usage_records",
        ["experiment", "created_at"],
        sqlite_where=only_experiments,
        postgresql_where=only_experiments,
    )
    for table in ("usage_hourly", "usage_daily"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("latency_ms_sum", sa.Float, nullable=False, server_default="0"))
            for name in LATENCY_COLUMNS:
                batch.add_column(sa.Column(name, sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "feedback",
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(64)),
        sa.Column("key_id", sa.String(64)),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "experiments",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("variants", sa.Text, nullable=False),
        sa.Column("sticky", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("status", sa.String(16), nullable=False, server_default="running"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("ended_at", TS),
        sa.UniqueConstraint("tenant_id", "name", name="uq_experiments_name"),
    )
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("sso_issuer", sa.String(512)))
        batch.add_column(sa.Column("sso_subject", sa.String(255)))
        batch.create_unique_constraint("uq_users_sso", ["sso_issuer", "sso_subject"])


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_sso", type_="unique")
        batch.drop_column("sso_subject")
        batch.drop_column("sso_issuer")
    op.drop_table("experiments")
    op.drop_table("feedback")
    for table in ("usage_daily", "usage_hourly"):
        with op.batch_alter_table(table) as batch:
            for name in reversed(LATENCY_COLUMNS):
                batch.drop_column(name)
            batch.drop_column("latency_ms_sum")
    op.drop_index("ix_usage_records_experiment", table_name="usage_records")
    op.drop_index("ix_usage_records_tenant_created", table_name="usage_records")
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("variant")
        batch.drop_column("experiment")
