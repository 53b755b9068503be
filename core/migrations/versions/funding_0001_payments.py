"""funding: payment instruments, payments, auto-refill rules, credit-line statements

Revision ID: funding_0001
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "funding_0001"
down_revision = "0001"
branch_labels = ("funding",)
depends_on = ("vault_0003",)


def upgrade() -> None:
    mills = sa.BigInteger()
    op.create_table(
        "payment_instruments",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("customer_account_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(60), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_payment_instruments"),
        sa.ForeignKeyConstraint(
            ["customer_account_id"],
            ["customer_accounts.id"],
            name="fk_payment_instruments_customer_account_id_customer_accounts",
        ),
    )
    op.create_index(
        "ix_payment_instruments_customer", "payment_instruments", ["customer_account_id"]
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("customer_account_id", sa.Integer(), nullable=False),
        sa.Column("instrument_id", sa.String(40), nullable=False),
        sa.Column("source", sa.String(60), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("amount", mills, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("idempotency_key", sa.String(80), nullable=False),
        sa.Column("body_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("source_reference", sa.String(120), nullable=False),
        sa.Column("transfer_id", sa.String(80), nullable=True),
        sa.Column("failure_code", sa.String(60), nullable=True),
        sa.Column("failure_message", sa.String(300), nullable=False),
        sa.Column("return_reason", sa.String(10), nullable=True),
        sa.Column("outstanding", mills, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_payments"),
        sa.ForeignKeyConstraint(
            ["customer_account_id"],
            ["customer_accounts.id"],
            name="fk_payments_customer_account_id_customer_accounts",
        ),
        sa.ForeignKeyConstraint(
            ["instrument_id"],
            ["payment_instruments.id"],
            name="fk_payments_instrument_id_payment_instruments",
        ),
        sa.UniqueConstraint("customer_account_id", "idempotency_key", name="uq_payments_key"),
    )
    op.create_index(
        "ix_payments_customer_outstanding", "payments", ["customer_account_id", "outstanding"]
    )
    op.create_table(
        "auto_refill_rules",
        sa.Column("customer_account_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("threshold", mills, nullable=False),
        sa.Column("amount", mills, nullable=True),
        sa.Column("daily_cap", mills, nullable=True),
        sa.Column("instrument_id", sa.String(40), nullable=True),
        sa.Column("alerted", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_account_id", name="pk_auto_refill_rules"),
        sa.ForeignKeyConstraint(
            ["customer_account_id"],
            ["customer_accounts.id"],
            name="fk_auto_refill_rules_customer_account_id_customer_accounts",
        ),
        sa.ForeignKeyConstraint(
            ["instrument_id"],
            ["payment_instruments.id"],
            name="fk_auto_refill_rules_instrument_id_payment_instruments",
        ),
    )
    op.create_table(
        "credit_statements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_account_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("opening", mills, nullable=False),
        sa.Column("draws", mills, nullable=False),
        sa.Column("payments", mills, nullable=False),
        sa.Column("closing", mills, nullable=False),
        sa.Column("minimum_due", mills, nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("credit_limit", mills, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_credit_statements"),
        sa.ForeignKeyConstraint(
            ["customer_account_id"],
            ["customer_accounts.id"],
            name="fk_credit_statements_customer_account_id_customer_accounts",
        ),
        sa.UniqueConstraint("customer_account_id", "month", name="uq_credit_statements_month"),
    )


def downgrade() -> None:
    op.drop_table("credit_statements")
    op.drop_table("auto_refill_rules")
    op.drop_index("ix_payments_customer_outstanding", table_name="payments")
    op.drop_table("payments")
    op.drop_index("ix_payment_instruments_customer", table_name="payment_instruments")
    op.drop_table("payment_instruments")
