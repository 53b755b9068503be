"""vault: payouts give the refunds-payable money back through the payment sources

Revision ID: vault_0006
Revises: vault_0005
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "vault_0006"
down_revision = "vault_0005"
branch_labels = None
depends_on = ("funding_0001", "refunds_0001")


def upgrade() -> None:
    mills = sa.BigInteger()
    moment = sa.DateTime(timezone=True)
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("refunded", mills, nullable=False, server_default="0"))
    op.create_table(
        "payouts",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("customer_account_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("payable", mills, nullable=False),
        sa.Column("unmatched", mills, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("updated_at", moment, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_payouts"),
        sa.ForeignKeyConstraint(
            ["customer_account_id"],
            ["customer_accounts.id"],
            name="fk_payouts_customer_account_id_customer_accounts",
        ),
    )
    op.create_index("ix_payouts_customer", "payouts", ["customer_account_id", "status"])
    op.create_table(
        "payout_refunds",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("payout_id", sa.String(40), nullable=False),
        sa.Column("payment_id", sa.String(40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("amount", mills, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("source", sa.String(60), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("source_reference", sa.String(120), nullable=False),
        sa.Column("failure_code", sa.String(60), nullable=True),
        sa.Column("failure_message", sa.String(300), nullable=False),
        sa.Column("transfer_id", sa.String(80), nullable=True),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("updated_at", moment, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_payout_refunds"),
        sa.ForeignKeyConstraint(
            ["payout_id"], ["payouts.id"], name="fk_payout_refunds_payout_id_payouts"
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name="fk_payout_refunds_payment_id_payments"
        ),
        sa.UniqueConstraint("payout_id", "payment_id", name="uq_payout_refunds_payment"),
    )
    op.create_index("ix_payout_refunds_payment", "payout_refunds", ["payment_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_payout_refunds_payment", table_name="payout_refunds")
    op.drop_table("payout_refunds")
    op.drop_index("ix_payouts_customer", table_name="payouts")
    op.drop_table("payouts")
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("refunded")
