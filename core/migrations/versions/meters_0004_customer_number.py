"""meters: each meter keeps its account's number, so that the meters area reads a meter
without joining the accounts area's table (DESIGN.md: an area never reads another
area's store)

A meter never changes hands and an account's number never changes, so the copy cannot
go stale.

Revision ID: meters_0004
Revises: meters_0003
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "meters_0004"
down_revision = "meters_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # added with a default (SQLite adds a NOT NULL column only with one, without copying
    # the table, which other tables' foreign keys name), then filled from the accounts
    op.add_column(
        "meters",
        sa.Column("customer_number", sa.String(10), nullable=False, server_default=""),
    )
    op.execute(
        "UPDATE meters SET customer_number = (SELECT a.number FROM customer_accounts a "
        "WHERE a.id = meters.customer_account_id)"
    )
    if op.get_bind().dialect.name != "sqlite":  # the store always writes it
        op.alter_column("meters", "customer_number", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("meters") as table:
        table.drop_column("customer_number")
