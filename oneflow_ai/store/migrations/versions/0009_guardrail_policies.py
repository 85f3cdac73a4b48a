"""Guardrails made through the admin API: tenants' policies (the superuser's under tenant_id '', seen by every
tenant) and the list of policies each tenant's calls carry. New tables only: the previous release's code runs on
this schema (it keeps them in the process, as before).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "guardrail_policies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("tenant_id", "name", name="uq_guardrail_policies_name"),
    )
    op.create_table(
        "tenant_guardrails",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("names", sa.Text, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tenant_guardrails")
    op.drop_table("guardrail_policies")
