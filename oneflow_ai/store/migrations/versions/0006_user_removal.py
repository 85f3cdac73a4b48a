"""Users can be disabled (`disabled_at`) and deleted (`deleted_at`, a soft delete: the row stays for the keys,
sessions and audit entries that name it, its e-mail and name are scrubbed).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("users", sa.Column("disabled_at", TS))
    op.add_column("users", sa.Column("deleted_at", TS))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("deleted_at")
        batch.drop_column("disabled_at")
