"""billing: an invoice line's text as a code and its parameters, so that it reads in
each reader's language (lines issued before keep their stored description)

Revision ID: billing_0004
Revises: billing_0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "billing_0004"
down_revision = "billing_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invoice_lines") as batch:
        batch.add_column(sa.Column("text", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("invoice_lines") as batch:
        batch.drop_column("text")
