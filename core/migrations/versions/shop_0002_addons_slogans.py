"""shop: meter add-on purchases and ad slogan orders

Revision ID: shop_0002
Revises: shop_0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "shop_0002"
down_revision = "shop_0001"
branch_labels = None
depends_on = None


def _customer(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["customer_number"],
        ["customer_accounts.number"],
        name=f"fk_{table}_customer_number_customer_accounts",
    )


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "shop_addon_purchases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("number", sa.String(16), nullable=False),
        sa.Column("customer_number", sa.String(10), nullable=False),
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("price_mills", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("invoice_number", sa.String(20), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("bought_at", moment, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_shop_addon_purchases"),
        sa.UniqueConstraint("number", name="uq_shop_addon_purchases_number"),
        sa.UniqueConstraint("serial", "code", name="uq_shop_addon_purchases_serial_code"),
        _customer("shop_addon_purchases"),
    )
    op.create_index(
        "ix_shop_addon_purchases_customer", "shop_addon_purchases", ["customer_number"]
    )
    op.create_table(
        "shop_slogans",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("number", sa.String(16), nullable=False),
        sa.Column("customer_number", sa.String(10), nullable=False),
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(40), nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("decided_at", moment, nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_shop_slogans"),
        sa.UniqueConstraint("number", name="uq_shop_slogans_number"),
        _customer("shop_slogans"),
    )
    op.create_index("ix_shop_slogans_customer", "shop_slogans", ["customer_number", "created_at"])
    op.create_index("ix_shop_slogans_status", "shop_slogans", ["status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_shop_slogans_status", table_name="shop_slogans")
    op.drop_index("ix_shop_slogans_customer", table_name="shop_slogans")
    op.drop_table("shop_slogans")
    op.drop_index("ix_shop_addon_purchases_customer", table_name="shop_addon_purchases")
    op.drop_table("shop_addon_purchases")
