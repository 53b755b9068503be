"""billing: signed direct-debit mandates (SEPA) and authorizations (ACH)

Revision ID: billing_0003
Revises: billing_0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "billing_0003"
down_revision = "billing_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "debit_mandates",
        sa.Column("reference", sa.String(35), nullable=False),
        sa.Column("customer_number", sa.String(10), nullable=False),
        sa.Column("scheme", sa.String(8), nullable=False),
        sa.Column("instrument_id", sa.String(40), nullable=False),
        sa.Column("account_holder", sa.String(70), nullable=False),
        sa.Column("account", sa.String(60), nullable=False),
        sa.Column("bank", sa.String(11), nullable=False),
        sa.Column("account_type", sa.String(10), nullable=False),
        sa.Column("creditor_name", sa.String(200), nullable=False),
        sa.Column("creditor_id", sa.String(35), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("signed_at", moment, nullable=False),
        sa.Column("signed_by", sa.String(320), nullable=False),
        sa.Column("revoked_at", moment, nullable=True),
        sa.Column("revoked_by", sa.String(320), nullable=False),
        sa.PrimaryKeyConstraint("reference", name="pk_debit_mandates"),
        sa.ForeignKeyConstraint(
            ["customer_number"],
            ["customer_accounts.number"],
            name="fk_debit_mandates_customer_number_customer_accounts",
        ),
    )
    op.create_index(
        "ix_debit_mandates_customer", "debit_mandates", ["customer_number", "signed_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_debit_mandates_customer", table_name="debit_mandates")
    op.drop_table("debit_mandates")
