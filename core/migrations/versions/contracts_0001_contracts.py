"""contracts: equipment contracts, renewal reminders, installation addresses and
address change requests

Revision ID: contracts_0001
Revises: 0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "contracts_0001"
down_revision = "0001"
branch_labels = ("contracts",)
depends_on = ("accounts_0001",)


def _customer(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["customer_number"],
        ["customer_accounts.number"],
        name=f"fk_{table}_customer_number_customer_accounts",
    )


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "contracts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("number", sa.String(20), nullable=False),
        sa.Column("customer_number", sa.String(10), nullable=False),
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("product_code", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("first_term_end", sa.Date(), nullable=False),
        sa.Column("billing_period", sa.String(20), nullable=False),
        sa.Column("amount_mills", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("notice_days", sa.Integer(), nullable=False),
        sa.Column("auto_renew", sa.Boolean(), nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("cancelled_at", moment, nullable=True),
        sa.Column("cancel_reason", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_contracts"),
        sa.UniqueConstraint("number", name="uq_contracts_number"),
        _customer("contracts"),
    )
    op.create_index("ix_contracts_customer_serial", "contracts", ["customer_number", "serial"])
    op.create_table(
        "contract_reminders",
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("term", sa.Integer(), nullable=False),
        sa.Column("sent_at", moment, nullable=False),
        sa.PrimaryKeyConstraint("contract_id", "term", name="pk_contract_reminders"),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name="fk_contract_reminders_contract_id_contracts",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "installation_addresses",
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("customer_number", sa.String(10), nullable=False),
        sa.Column("line1", sa.String(100), nullable=False),
        sa.Column("line2", sa.String(100), nullable=False),
        sa.Column("postal_code", sa.String(12), nullable=False),
        sa.Column("city", sa.String(80), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("updated_at", moment, nullable=False),
        sa.PrimaryKeyConstraint("serial", name="pk_installation_addresses"),
        _customer("installation_addresses"),
    )
    op.create_table(
        "address_change_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("reference", sa.String(20), nullable=False),
        sa.Column("customer_number", sa.String(10), nullable=False),
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("line1", sa.String(100), nullable=False),
        sa.Column("line2", sa.String(100), nullable=False),
        sa.Column("postal_code", sa.String(12), nullable=False),
        sa.Column("city", sa.String(80), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("move_on", sa.Date(), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", moment, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("resolved_at", moment, nullable=True),
        sa.Column("resolved_by", sa.String(200), nullable=True),
        sa.Column("note", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_address_change_requests"),
        sa.UniqueConstraint("reference", name="uq_address_change_requests_reference"),
        _customer("address_change_requests"),
    )
    op.create_index(
        "ix_address_change_requests_status",
        "address_change_requests",
        ["status", "requested_at"],
    )
    op.create_index(
        "ix_address_change_requests_customer_serial",
        "address_change_requests",
        ["customer_number", "serial"],
    )


def downgrade() -> None:
    op.drop_index(
        "ix_address_change_requests_customer_serial", table_name="address_change_requests"
    )
    op.drop_index("ix_address_change_requests_status", table_name="address_change_requests")
    op.drop_table("address_change_requests")
    op.drop_table("installation_addresses")
    op.drop_table("contract_reminders")
    op.drop_index("ix_contracts_customer_serial", table_name="contracts")
    op.drop_table("contracts")
