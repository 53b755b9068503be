"""outbox: files an email carries (an invoice's PDF with paperless billing)

Revision ID: outbox_0003
Revises: outbox_0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "outbox_0003"
down_revision = "outbox_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages") as table:
        table.add_column(
            sa.Column("attachments", sa.Text(), nullable=False, server_default="[]")
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox_messages") as table:
        table.drop_column("attachments")
