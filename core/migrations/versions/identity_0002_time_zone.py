"""identity: the time zone a person chose for the portal's times

Revision ID: identity_0002
Revises: identity_0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "identity_0002"
down_revision = "identity_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("identity_users") as batch:
        batch.add_column(
            sa.Column("time_zone", sa.String(64), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("identity_users") as batch:
        batch.drop_column("time_zone")
