"""outbox: a message's HTML, language and translations, for email in the reader's language

Revision ID: outbox_0002
Revises: outbox_0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "outbox_0002"
down_revision = "outbox_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages") as table:
        table.add_column(sa.Column("html", sa.Text(), nullable=True))
        table.add_column(
            sa.Column("language", sa.String(16), nullable=False, server_default="en")
        )
        table.add_column(
            sa.Column("translations", sa.Text(), nullable=False, server_default="{}")
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox_messages") as table:
        table.drop_column("translations")
        table.drop_column("language")
        table.drop_column("html")
