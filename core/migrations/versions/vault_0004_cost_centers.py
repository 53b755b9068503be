"""vault: the cost centre (department) a transfer's postage is booked to

Revision ID: vault_0004
Revises: vault_0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "vault_0004"
down_revision = "vault_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN, never a batch rebuild: rebuilding the table would drop the
    # triggers that keep ledger rows append-only.
    op.add_column("ledger_transfers", sa.Column("cost_center", sa.String(60), nullable=True))


def downgrade() -> None:
    op.drop_column("ledger_transfers", "cost_center")
