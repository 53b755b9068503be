"""billing: no index of the invoice's reference alone (the unique (customer_number,
reference) index answers "which of these are billed already"; one index less to keep
on each of a billing run's inserts)

Revision ID: billing_0005
Revises: billing_0004
Create Date: 2026-12-02
"""

from alembic import op

revision = "billing_0005"
down_revision = "billing_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_invoices_reference", table_name="invoices")


def downgrade() -> None:
    op.create_index("ix_invoices_reference", "invoices", ["reference"])
