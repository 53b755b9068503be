"""refunds: refunds of metered postage, their pieces, closed postage accounts

Revision ID: refunds_0001
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "refunds_0001"
down_revision = "0001"
branch_labels = ("refunds",)
depends_on = ("vault_0003",)


def upgrade() -> None:
    op.create_table(
        "refunds",
        sa.Column(
            "customer_account_id",
            sa.Integer(),
            sa.ForeignKey("customer_accounts.id"),
            primary_key=True,
        ),
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("customer_number", sa.String(10), nullable=False),
        sa.Column("serial", sa.String(60), nullable=False),
        sa.Column("operator", sa.String(40), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("face", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("body_hash", sa.String(64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("agent", sa.String(100), nullable=True),
        sa.Column("decision_note", sa.String(500), nullable=True),
    )
    op.create_index("ix_refunds_status", "refunds", ["status"])
    op.create_table(
        "refund_pieces",
        sa.Column("customer_account_id", sa.Integer(), primary_key=True),
        sa.Column("refund_id", sa.String(40), primary_key=True),
        sa.Column("piece", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("serial", sa.String(60), nullable=False),
        sa.Column("face", sa.BigInteger(), nullable=False),
        sa.Column("indicium_date", sa.Date(), nullable=False),
        sa.Column("usage_transfer_id", sa.String(80), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("claimed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_account_id", "refund_id"],
            ["refunds.customer_account_id", "refunds.id"],
            name="fk_refund_pieces_refund",
        ),
    )
    op.create_index("ix_refund_pieces_usage", "refund_pieces", ["usage_transfer_id"])
    claimed = sa.column("claimed").is_(True)
    op.create_index(
        "uq_refund_pieces_claimed",
        "refund_pieces",
        ["serial", "piece"],
        unique=True,
        sqlite_where=claimed,
        postgresql_where=claimed,
    )
    op.create_table(
        "postage_account_closures",
        sa.Column(
            "account_id", sa.Integer(), sa.ForeignKey("ledger_accounts.id"), primary_key=True
        ),
        sa.Column("customer_number", sa.String(10), nullable=False, unique=True),
        sa.Column("account", sa.String(120), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("refunded", sa.BigInteger(), nullable=False),
        sa.Column("transfer_id", sa.String(80), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ledger_seq", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("postage_account_closures")
    op.drop_index("uq_refund_pieces_claimed", table_name="refund_pieces")
    op.drop_index("ix_refund_pieces_usage", table_name="refund_pieces")
    op.drop_table("refund_pieces")
    op.drop_index("ix_refunds_status", table_name="refunds")
    op.drop_table("refunds")
