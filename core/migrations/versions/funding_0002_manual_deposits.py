"""funding: the audit of manual deposits (who, when, why, how much)

Revision ID: funding_0002
Revises: funding_0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "funding_0002"
down_revision = "funding_0001"
branch_labels = None
depends_on = ("accounts_0001",)


def upgrade() -> None:
    op.create_table(
        "manual_deposits",
        sa.Column("transfer_id", sa.String(80), nullable=False),
        sa.Column("customer_account_id", sa.Integer(), nullable=False),
        sa.Column("customer_number", sa.String(20), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("staff", sa.String(100), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("transfer_id", name="pk_manual_deposits"),
        sa.ForeignKeyConstraint(
            ["customer_account_id"],
            ["customer_accounts.id"],
            name="fk_manual_deposits_customer_account_id_customer_accounts",
        ),
    )
    op.create_index(
        "ix_manual_deposits_customer", "manual_deposits", ["customer_account_id", "created_at"]
    )
    op.create_index("ix_manual_deposits_created", "manual_deposits", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_manual_deposits_created", table_name="manual_deposits")
    op.drop_index("ix_manual_deposits_customer", table_name="manual_deposits")
    op.drop_table("manual_deposits")
