"""vault: a declined auto-refill is retried on a schedule, then suspended

Revision ID: vault_0006b
Revises: vault_0006
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "vault_0006b"
down_revision = "vault_0006"
branch_labels = None
depends_on = ("funding_0001",)


def upgrade() -> None:
    with op.batch_alter_table("auto_refill_rules") as batch:
        batch.add_column(sa.Column("declines", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("suspended", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("auto_refill_rules") as batch:
        batch.drop_column("suspended")
        batch.drop_column("retry_at")
        batch.drop_column("declines")
