"""kiosks: the keys of customer accounts' mailroom terminals

Revision ID: kiosks_0001
Revises: 0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "kiosks_0001"
down_revision = "0001"
branch_labels = ("kiosks",)
depends_on = ("accounts_0001",)


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "kiosk_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_number", sa.String(10), nullable=False),
        sa.Column("prefix", sa.String(24), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("revoked_at", moment, nullable=True),
        sa.Column("last_contact_at", moment, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_kiosk_keys"),
        sa.UniqueConstraint("prefix", name="uq_kiosk_keys_prefix"),
        sa.ForeignKeyConstraint(
            ["customer_number"],
            ["customer_accounts.number"],
            name="fk_kiosk_keys_customer_number_customer_accounts",
        ),
    )
    op.create_index("ix_kiosk_keys_customer_number", "kiosk_keys", ["customer_number"])


def downgrade() -> None:
    op.drop_index("ix_kiosk_keys_customer_number", table_name="kiosk_keys")
    op.drop_table("kiosk_keys")
