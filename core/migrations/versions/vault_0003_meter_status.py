"""vault: meter status (active, withdrawn)

Revision ID: vault_0003
Revises: vault_0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "vault_0003"
down_revision = "vault_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("meter_registers") as batch:
        batch.add_column(
            sa.Column("status", sa.String(20), nullable=False, server_default="active")
        )


def downgrade() -> None:
    with op.batch_alter_table("meter_registers") as batch:
        batch.drop_column("status")
