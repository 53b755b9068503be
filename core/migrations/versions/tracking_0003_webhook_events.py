"""tracking: the statuses a webhook subscription is told of

Revision ID: tracking_0003
Revises: tracking_0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "tracking_0003"
down_revision = "tracking_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tracking_subscriptions") as batch:
        batch.add_column(sa.Column("events", sa.String(250), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("tracking_subscriptions") as batch:
        batch.drop_column("events")
