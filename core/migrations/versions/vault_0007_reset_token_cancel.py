"""vault: reset tokens record the device's time of application and their cancellation

Revision ID: vault_0007
Revises: vault_0006b
Create Date: 2026-11-23

A refill whose token expired unapplied is cancelled (its amount goes back to the
postage account, transfer ``prc:<serial>:<sequence>``) and the customer is told once;
a token the device proves it applied records the device's own time of application.
"""

import sqlalchemy as sa
from alembic import op

revision = "vault_0007"
down_revision = "vault_0006b"
branch_labels = None
depends_on = None

COLUMNS = ("device_applied_at", "cancelled_at", "cancel_transfer_id", "cancel_notified_at")


def upgrade() -> None:
    with op.batch_alter_table("reset_tokens") as table:
        table.add_column(sa.Column("device_applied_at", sa.DateTime(timezone=True)))
        table.add_column(sa.Column("cancelled_at", sa.DateTime(timezone=True)))
        table.add_column(sa.Column("cancel_transfer_id", sa.String(80)))
        table.add_column(sa.Column("cancel_notified_at", sa.DateTime(timezone=True)))
    op.create_index("ix_reset_tokens_expires_at", "reset_tokens", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_reset_tokens_expires_at", "reset_tokens")
    with op.batch_alter_table("reset_tokens") as table:
        for name in COLUMNS:
            table.drop_column(name)
