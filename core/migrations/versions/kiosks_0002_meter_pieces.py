"""kiosks: the terminals' piece log of pieces printed on the account's own meters

Revision ID: kiosks_0002
Revises: kiosks_0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "kiosks_0002"
down_revision = "kiosks_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "kiosk_meter_pieces",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_number", sa.String(10), nullable=False),
        sa.Column("serial", sa.String(60), nullable=False),
        sa.Column("piece", sa.Integer(), nullable=False),
        sa.Column("mills", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("carrier", sa.String(80), nullable=False),
        sa.Column("service", sa.String(80), nullable=False),
        sa.Column("cost_center", sa.String(64), nullable=True),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("operator_name", sa.String(80), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("printed_at", moment, nullable=False),
        sa.Column("misprint_at", moment, nullable=True),
        sa.Column("refund_id", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_kiosk_meter_pieces"),
        sa.UniqueConstraint("serial", "piece", name="uq_kiosk_meter_pieces_serial_piece"),
        sa.ForeignKeyConstraint(
            ["customer_number"],
            ["customer_accounts.number"],
            name="fk_kiosk_meter_pieces_customer_number_customer_accounts",
        ),
    )
    op.create_index(
        "ix_kiosk_meter_pieces_customer_number",
        "kiosk_meter_pieces",
        ["customer_number", "printed_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_kiosk_meter_pieces_customer_number", table_name="kiosk_meter_pieces")
    op.drop_table("kiosk_meter_pieces")
