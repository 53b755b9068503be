"""accounts: kiosk operators, their signed-in sessions and sign-in throttle

Revision ID: accounts_0002
Revises: accounts_0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "accounts_0002"
down_revision = "accounts_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kiosk_operators",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("pin_hash", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kiosk_operators"),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["customer_accounts.id"],
            name="fk_kiosk_operators_account_id_customer_accounts",
        ),
    )
    op.create_index("ix_kiosk_operators_account_id", "kiosk_operators", ["account_id"])
    op.create_table(
        "kiosk_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_kiosk_sessions"),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["kiosk_operators.id"],
            name="fk_kiosk_sessions_operator_id_kiosk_operators",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_kiosk_sessions_operator_id", "kiosk_sessions", ["operator_id"])
    op.create_table(
        "kiosk_sign_in_failures",
        sa.Column("subject", sa.String(100), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("subject", name="pk_kiosk_sign_in_failures"),
    )


def downgrade() -> None:
    op.drop_table("kiosk_sign_in_failures")
    op.drop_index("ix_kiosk_sessions_operator_id", table_name="kiosk_sessions")
    op.drop_table("kiosk_sessions")
    op.drop_index("ix_kiosk_operators_account_id", table_name="kiosk_operators")
    op.drop_table("kiosk_operators")
