"""accounts: kiosk operators' badges (keyed hash, unique per account) and cost centres

Revision ID: accounts_0003
Revises: accounts_0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "accounts_0003"
down_revision = "accounts_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kiosk_operators") as table:
        table.add_column(sa.Column("badge_hash", sa.String(64), nullable=True))
        table.add_column(sa.Column("cost_centers", sa.Text(), nullable=True))
    op.create_index(
        "uq_kiosk_operators_badge", "kiosk_operators", ["account_id", "badge_hash"], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_kiosk_operators_badge", table_name="kiosk_operators")
    with op.batch_alter_table("kiosk_operators") as table:
        table.drop_column("cost_centers")
        table.drop_column("badge_hash")
