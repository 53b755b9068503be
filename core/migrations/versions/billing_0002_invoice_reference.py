"""billing: invoices found by the issuer's reference alone (the billing run asks which
of a thousand contracts' periods are billed already)

Revision ID: billing_0002
Revises: billing_0001
Create Date: 2026-12-02
"""

from alembic import op

revision = "billing_0002"
down_revision = "billing_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_invoices_reference", "invoices", ["reference"])


def downgrade() -> None:
    op.drop_index("ix_invoices_reference", table_name="invoices")
