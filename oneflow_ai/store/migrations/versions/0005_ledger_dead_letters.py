"""Ledger: dead letters, the usage records the database refused (a value too long, a NUL character...).

A record the database refuses would fail every batch it is in; the ledger sets it aside here (the record as
JSON text, and the error), so every other record is written. Plain text columns: whatever the record holds
is kept as escaped ASCII JSON, which any database stores.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_dead_letters",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("record", sa.Text, nullable=False),
    )
    op.create_index("ix_ledger_dead_letters_request_id", "ledger_dead_letters", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_ledger_dead_letters_request_id", table_name="ledger_dead_letters")
    op.drop_table("ledger_dead_letters")
