"""kiosks: the terminals' piece log (reports) and the answers to their queued requests

Revision ID: kiosk_log_0001
Revises: 0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "kiosk_log_0001"
down_revision = "0001"
branch_labels = ("kiosk_log",)
depends_on = ("kiosks_0001",)


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "kiosk_pieces",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("customer_number", sa.String(10), nullable=False),
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("piece", sa.BigInteger(), nullable=False),
        sa.Column("printed_at", moment, nullable=False),
        sa.Column("mills", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("carrier", sa.String(100), nullable=False),
        sa.Column("service", sa.String(100), nullable=False),
        sa.Column("cost_center", sa.String(100), nullable=True),
        sa.Column("operator_id", sa.Integer(), nullable=True),
        sa.Column("operator_name", sa.String(100), nullable=False),
        sa.Column("terminal", sa.String(100), nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kiosk_pieces"),
        sa.ForeignKeyConstraint(
            ["customer_number"],
            ["customer_accounts.number"],
            name="fk_kiosk_pieces_customer_number_customer_accounts",
        ),
        sa.UniqueConstraint("serial", "piece", name="uq_kiosk_pieces_serial_piece"),
    )
    op.create_index(
        "ix_kiosk_pieces_customer_printed", "kiosk_pieces", ["customer_number", "printed_at"]
    )
    op.create_table(
        "kiosk_requests",
        sa.Column("customer_number", sa.String(10), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("answer", sa.String(100), nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.PrimaryKeyConstraint(
            "customer_number", "idempotency_key", name="pk_kiosk_requests"
        ),
        sa.ForeignKeyConstraint(
            ["customer_number"],
            ["customer_accounts.number"],
            name="fk_kiosk_requests_customer_number_customer_accounts",
        ),
    )


def downgrade() -> None:
    op.drop_table("kiosk_requests")
    op.drop_index("ix_kiosk_pieces_customer_printed", table_name="kiosk_pieces")
    op.drop_table("kiosk_pieces")
