"""Events and webhooks: the event outbox, webhook endpoints made through the admin API, delivery jobs and the
delivery log (one row per attempt). New tables only: the previous release's code runs on this schema.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "event_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(40), nullable=False, unique=True),
        sa.Column("type", sa.String(48), nullable=False),
        sa.Column("tenant_id", sa.String(64)),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("fanned_at", TS),
        sa.Column("claim", sa.String(40)),
        sa.Column("claimed_until", TS),
    )
    op.create_index("ix_event_outbox_pending", "event_outbox", ["fanned_at", "id"])
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(64)),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("events", sa.Text, nullable=False),
        sa.Column("format", sa.String(16), nullable=False, server_default="generic"),
        sa.Column("allow_private", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_webhook_endpoints_tenant", "webhook_endpoints", ["tenant_id"])
    op.create_table(
        "webhook_jobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(40), nullable=False),
        sa.Column("endpoint_id", sa.String(64), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_at", TS, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("done_at", TS),
        sa.Column("claim", sa.String(40)),
        sa.Column("claimed_until", TS),
        sa.UniqueConstraint("event_id", "endpoint_id", name="uq_webhook_jobs_once"),
    )
    op.create_index("ix_webhook_jobs_due", "webhook_jobs", ["done_at", "next_at"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(40), nullable=False),
        sa.Column("event_type", sa.String(48), nullable=False),
        sa.Column("endpoint_id", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(64)),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("http_status", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=False),
    )
    op.create_index("ix_webhook_deliveries_event", "webhook_deliveries", ["event_id"])
    op.create_index("ix_webhook_deliveries_tenant", "webhook_deliveries", ["tenant_id", "id"])


def downgrade() -> None:
    for table in ("webhook_deliveries", "webhook_jobs", "webhook_endpoints", "event_outbox"):
        op.drop_table(table)
