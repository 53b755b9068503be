"""shop: the audit of stock changes by staff (who, when, why, how many, what was left)

Revision ID: shop_0003
Revises: shop_0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "shop_0003"
down_revision = "shop_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shop_stock_moves",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sku", sa.String(32), nullable=False),
        sa.Column("change", sa.Integer(), nullable=False),
        sa.Column("stock_after", sa.Integer(), nullable=False),
        sa.Column("staff", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_shop_stock_moves"),
        sa.ForeignKeyConstraint(
            ["sku"], ["shop_items.sku"], name="fk_shop_stock_moves_sku_shop_items"
        ),
    )
    op.create_index("ix_shop_stock_moves_sku", "shop_stock_moves", ["sku", "at"])


def downgrade() -> None:
    op.drop_index("ix_shop_stock_moves_sku", table_name="shop_stock_moves")
    op.drop_table("shop_stock_moves")
