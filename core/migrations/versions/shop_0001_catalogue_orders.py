"""shop: the supplies catalogue and its prices, carts, orders, their lines and events

Revision ID: shop_0001
Revises: 0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "shop_0001"
down_revision = "0001"
branch_labels = ("shop",)
depends_on = ("accounts_0001",)


def _customer(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["customer_number"],
        ["customer_accounts.number"],
        name=f"fk_{table}_customer_number_customer_accounts",
    )


def _item(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["sku"], ["shop_items.sku"], name=f"fk_{table}_sku_shop_items")


def _order(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["order_id"],
        ["shop_orders.id"],
        name=f"fk_{table}_order_id_shop_orders",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "shop_items",
        sa.Column("sku", sa.String(32), nullable=False),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("name_en", sa.String(120), nullable=False),
        sa.Column("name_fr", sa.String(120), nullable=False),
        sa.Column("description_en", sa.String(1000), nullable=False),
        sa.Column("description_fr", sa.String(1000), nullable=False),
        sa.Column("fits", sa.String(200), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.CheckConstraint("stock >= 0", name="ck_shop_items_stock_not_negative"),
        sa.PrimaryKeyConstraint("sku", name="pk_shop_items"),
    )
    op.create_table(
        "shop_prices",
        sa.Column("sku", sa.String(32), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("mills", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("sku", "currency", name="pk_shop_prices"),
        _item("shop_prices"),
    )
    op.create_table(
        "shop_cart_lines",
        sa.Column("customer_number", sa.String(10), nullable=False),
        sa.Column("sku", sa.String(32), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_mills", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("added_at", moment, nullable=False),
        sa.PrimaryKeyConstraint("customer_number", "sku", name="pk_shop_cart_lines"),
        _customer("shop_cart_lines"),
        _item("shop_cart_lines"),
    )
    op.create_table(
        "shop_orders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("number", sa.String(16), nullable=False),
        sa.Column("customer_number", sa.String(10), nullable=False),
        sa.Column("checkout_key", sa.String(100), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("total_mills", sa.BigInteger(), nullable=False),
        sa.Column("tax_mills", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("payment_id", sa.String(40), nullable=True),
        sa.Column("invoice_number", sa.String(20), nullable=True),
        sa.Column("tracking_number", sa.String(40), nullable=True),
        sa.Column("payment_failure", sa.String(400), nullable=True),
        sa.Column("payment_attempts", sa.Integer(), nullable=False),
        sa.Column("refund", sa.String(8), nullable=True),
        sa.Column("placed_at", moment, nullable=False),
        sa.Column("updated_at", moment, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_shop_orders"),
        sa.UniqueConstraint("number", name="uq_shop_orders_number"),
        sa.UniqueConstraint("customer_number", "checkout_key", name="uq_shop_orders_checkout_key"),
        _customer("shop_orders"),
    )
    op.create_index(
        "ix_shop_orders_customer_placed", "shop_orders", ["customer_number", "placed_at"]
    )
    op.create_index("ix_shop_orders_status", "shop_orders", ["status", "placed_at"])
    op.create_table(
        "shop_order_lines",
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(32), nullable=False),
        sa.Column("name_en", sa.String(120), nullable=False),
        sa.Column("name_fr", sa.String(120), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_mills", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "position", name="pk_shop_order_lines"),
        _order("shop_order_lines"),
    )
    op.create_table(
        "shop_order_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("at", moment, nullable=False),
        sa.Column("by", sa.String(200), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_shop_order_events"),
        _order("shop_order_events"),
    )
    op.create_index("ix_shop_order_events_order", "shop_order_events", ["order_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_shop_order_events_order", table_name="shop_order_events")
    op.drop_table("shop_order_events")
    op.drop_table("shop_order_lines")
    op.drop_index("ix_shop_orders_status", table_name="shop_orders")
    op.drop_index("ix_shop_orders_customer_placed", table_name="shop_orders")
    op.drop_table("shop_orders")
    op.drop_table("shop_cart_lines")
    op.drop_table("shop_prices")
    op.drop_table("shop_items")
