"""meters: the data center's virtual meters (PC postage, kiosk) and their print jobs

Revision ID: meters_0003
Revises: meters_0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "meters_0003"
down_revision = "meters_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "virtual_meters",
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("customer_account_id", sa.Integer(), nullable=False),
        sa.Column("sealed_key", sa.LargeBinary(), nullable=False),
        sa.Column("pieces", sa.BigInteger(), nullable=False),
        sa.Column("ascending", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["serial"], ["meters.serial"], name="fk_virtual_meters_serial_meters"
        ),
        sa.ForeignKeyConstraint(
            ["customer_account_id"],
            ["customer_accounts.id"],
            name="fk_virtual_meters_customer_account_id_customer_accounts",
        ),
        sa.PrimaryKeyConstraint("serial", name="pk_virtual_meters"),
        sa.UniqueConstraint(
            "customer_account_id", name="uq_virtual_meters_customer_account_id"
        ),
    )
    op.create_table(
        "virtual_prints",
        sa.Column("customer_account_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("body_hash", sa.String(64), nullable=False),
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("carrier", sa.String(40), nullable=False),
        sa.Column("service", sa.String(80), nullable=False),
        sa.Column("mills", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("cost_center", sa.String(64), nullable=True),
        sa.Column("piece", sa.BigInteger(), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.Column("signature", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("printed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_account_id"],
            ["customer_accounts.id"],
            name="fk_virtual_prints_customer_account_id_customer_accounts",
        ),
        sa.ForeignKeyConstraint(
            ["serial"], ["meters.serial"], name="fk_virtual_prints_serial_meters"
        ),
        sa.PrimaryKeyConstraint(
            "customer_account_id", "idempotency_key", name="pk_virtual_prints"
        ),
        sa.UniqueConstraint("serial", "piece", name="uq_virtual_prints_serial_piece"),
    )


def downgrade() -> None:
    op.drop_table("virtual_prints")
    op.drop_table("virtual_meters")
