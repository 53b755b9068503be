"""identity: portal and staff users, single-use links, web sessions, sign-in throttle

Revision ID: identity_0001
Revises: 0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "identity_0001"
down_revision = "0001"
branch_labels = ("identity",)
depends_on = ("accounts_0001",)


def upgrade() -> None:
    op.create_table(
        "identity_users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("company", sa.String(200), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("account_number", sa.String(10), nullable=True),
        sa.Column("staff", sa.Boolean(), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=True),
        sa.Column("security_question", sa.String(200), nullable=False),
        sa.Column("security_answer_hash", sa.String(200), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_identity_users"),
        sa.UniqueConstraint("email", name="uq_identity_users_email"),
        sa.ForeignKeyConstraint(
            ["account_number"],
            ["customer_accounts.number"],
            name="fk_identity_users_account_number_customer_accounts",
        ),
    )
    op.create_index("ix_identity_users_account_number", "identity_users", ["account_number"])
    op.create_table(
        "identity_tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("payload", sa.String(254), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_identity_tokens"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["identity_users.id"],
            name="fk_identity_tokens_user_id_identity_users",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_identity_tokens_user_id", "identity_tokens", ["user_id"])
    op.create_table(
        "identity_sessions",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name="pk_identity_sessions"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["identity_users.id"],
            name="fk_identity_sessions_user_id_identity_users",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_identity_sessions_user_id", "identity_sessions", ["user_id"])
    op.create_table(
        "identity_throttle",
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("subject", name="pk_identity_throttle"),
    )


def downgrade() -> None:
    op.drop_table("identity_throttle")
    op.drop_index("ix_identity_sessions_user_id", table_name="identity_sessions")
    op.drop_table("identity_sessions")
    op.drop_index("ix_identity_tokens_user_id", table_name="identity_tokens")
    op.drop_table("identity_tokens")
    op.drop_index("ix_identity_users_account_number", table_name="identity_users")
    op.drop_table("identity_users")
