"""vault: reset tokens issued by refills, applied at most once

Revision ID: vault_0002
Revises: vault_0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "vault_0002"
down_revision = "vault_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reset_tokens",
        sa.Column("serial", sa.String(60), nullable=False),
        sa.Column("sequence", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("transfer_id", sa.String(80), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("serial", "sequence", name="pk_reset_tokens"),
        sa.UniqueConstraint("transfer_id", name="uq_reset_tokens_transfer_id"),
    )


def downgrade() -> None:
    op.drop_table("reset_tokens")
