"""What a call's record says beyond tokens and cost: a cache hit's kind and the cost it saved, the guardrails that
acted on it, and the unit and quantity of a call priced by images, characters or seconds; the hourly and daily
aggregates sum the cache hits, the savings and the calls blocked or redacted by a guardrail.

Every column has a default, so the previous release's code (which does not name them) writes rows that read back
as a token-priced call with no cache hit and no guardrail.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(20, 12)
RECORD_COLUMNS: tuple[tuple[str, Callable[[], sa.Column[Any]]], ...] = (
    ("cache_kind", lambda: sa.Column("cache_kind", sa.String(16))),
    ("saved_usd", lambda: sa.Column("saved_usd", MONEY, nullable=False, server_default="0")),
    ("guardrail", lambda: sa.Column("guardrail", sa.String(256))),
    ("guardrail_action", lambda: sa.Column("guardrail_action", sa.String(16))),
    ("unit", lambda: sa.Column("unit", sa.String(16), nullable=False, server_default="tokens")),
    ("quantity", lambda: sa.Column("quantity", sa.Numeric(20, 6), nullable=False, server_default="0")),
)
AGGREGATE_COLUMNS: tuple[tuple[str, Callable[[], sa.Column[Any]]], ...] = (
    ("cache_hits", lambda: sa.Column("cache_hits", sa.Integer, nullable=False, server_default="0")),
    ("saved_usd", lambda: sa.Column("saved_usd", MONEY, nullable=False, server_default="0")),
    ("guardrail_blocked", lambda: sa.Column("guardrail_blocked", sa.Integer, nullable=False, server_default="0")),
    ("guardrail_redacted", lambda: sa.Column("guardrail_redacted", sa.Integer, nullable=False, server_default="0")),
)


def upgrade() -> None:
    for _, column in RECORD_COLUMNS:
        op.add_column("usage_records", column())
    for table in ("usage_hourly", "usage_daily"):
        for _, column in AGGREGATE_COLUMNS:
            op.add_column(table, column())


def downgrade() -> None:
    for table in ("usage_hourly", "usage_daily"):
        with op.batch_alter_table(table) as batch:
            for name, _ in reversed(AGGREGATE_COLUMNS):
                batch.drop_column(name)
    with op.batch_alter_table("usage_records") as batch:
        for name, _ in reversed(RECORD_COLUMNS):
            batch.drop_column(name)
