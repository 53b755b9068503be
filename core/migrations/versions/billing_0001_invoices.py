"""billing: invoices and credit notes with their lines, gap-free number sequences,
billing profiles and invoice payments

Revision ID: billing_0001
Revises: 0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "billing_0001"
down_revision = "0001"
branch_labels = ("billing",)
depends_on = ("accounts_0001",)


def _customer(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["customer_number"],
        ["customer_accounts.number"],
        name=f"fk_{table}_customer_number_customer_accounts",
    )


def _invoice(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["invoice_id"],
        ["invoices.id"],
        name=f"fk_{table}_invoice_id_invoices",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("number", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("customer_number", sa.String(10), nullable=False),
        sa.Column("customer_name", sa.String(200), nullable=False),
        sa.Column("customer_address", sa.String(500), nullable=False),
        sa.Column("customer_tax_id", sa.String(40), nullable=False),
        sa.Column("seller_name", sa.String(200), nullable=False),
        sa.Column("seller_address", sa.String(500), nullable=False),
        sa.Column("seller_tax_id", sa.String(40), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(120), nullable=False),
        sa.Column("installation_number", sa.String(11), nullable=True),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("net_mills", sa.BigInteger(), nullable=False),
        sa.Column("tax_mills", sa.BigInteger(), nullable=False),
        sa.Column("total_mills", sa.BigInteger(), nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("related_number", sa.String(16), nullable=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("payment_id", sa.String(40), nullable=True),
        sa.Column("paid_at", moment, nullable=True),
        sa.Column("auto_debit_at", moment, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_invoices"),
        sa.UniqueConstraint("number", name="uq_invoices_number"),
        sa.UniqueConstraint("customer_number", "reference", name="uq_invoices_customer_reference"),
        _customer("invoices"),
    )
    op.create_index("ix_invoices_customer_issued", "invoices", ["customer_number", "issued_on"])
    op.create_index("ix_invoices_status_due", "invoices", ["status", "due_on"])
    op.create_table(
        "invoice_lines",
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price_mills", sa.BigInteger(), nullable=False),
        sa.Column("net_mills", sa.BigInteger(), nullable=False),
        sa.Column("taxes", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("invoice_id", "position", name="pk_invoice_lines"),
        _invoice("invoice_lines"),
    )
    op.create_table(
        "invoice_sequences",
        sa.Column("series", sa.String(3), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("series", "year", name="pk_invoice_sequences"),
    )
    op.create_table(
        "billing_profiles",
        sa.Column("customer_number", sa.String(10), nullable=False),
        sa.Column("region", sa.String(2), nullable=True),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("paperless", sa.Boolean(), nullable=False),
        sa.Column("auto_debit_instrument", sa.String(40), nullable=True),
        sa.Column("billing_address", sa.String(500), nullable=False),
        sa.Column("updated_at", moment, nullable=False),
        sa.PrimaryKeyConstraint("customer_number", name="pk_billing_profiles"),
        _customer("billing_profiles"),
    )
    op.create_table(
        "invoice_payments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("customer_number", sa.String(10), nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("payment_id", sa.String(40), nullable=True),
        sa.Column("amount_mills", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("via", sa.String(12), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("updated_at", moment, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_invoice_payments"),
        sa.UniqueConstraint("key", name="uq_invoice_payments_key"),
        sa.UniqueConstraint("payment_id", name="uq_invoice_payments_payment_id"),
        _invoice("invoice_payments"),
    )
    op.create_index(
        "ix_invoice_payments_customer", "invoice_payments", ["customer_number", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_invoice_payments_customer", table_name="invoice_payments")
    op.drop_table("invoice_payments")
    op.drop_table("billing_profiles")
    op.drop_table("invoice_sequences")
    op.drop_table("invoice_lines")
    op.drop_index("ix_invoices_status_due", table_name="invoices")
    op.drop_index("ix_invoices_customer_issued", table_name="invoices")
    op.drop_table("invoices")
