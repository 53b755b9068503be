"""cases: agents and their departments, account profiles (calendar, account manager),
traces and claims, the supervisors' priority queue index

Revision ID: cases_0002
Revises: cases_0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "cases_0002"
down_revision = "cases_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "case_agents",
        sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("updated_at", moment, nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_case_agents"),
    )
    op.create_table(
        "case_agent_departments",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("department", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "department", name="pk_case_agent_departments"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["case_agents.user_id"],
            name="fk_case_agent_departments_user_id_case_agents",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "case_account_profiles",
        sa.Column("customer_number", sa.String(10), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=True),
        sa.Column("subdivision", sa.String(8), nullable=True),
        sa.Column("account_manager_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", moment, nullable=False),
        sa.PrimaryKeyConstraint("customer_number", name="pk_case_account_profiles"),
        sa.ForeignKeyConstraint(
            ["customer_number"],
            ["customer_accounts.number"],
            name="fk_case_account_profiles_customer_number_customer_accounts",
        ),
    )
    op.create_table(
        "case_claims",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("tracking_number", sa.String(40), nullable=False),
        sa.Column("declared_mills", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("filed_at", moment, nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("outcome", sa.String(12), nullable=False),
        sa.Column("outcome_reason", sa.String(500), nullable=False),
        sa.Column("refunded_mills", sa.BigInteger(), nullable=True),
        sa.Column("refund_transfer_id", sa.String(64), nullable=True),
        sa.Column("reshipment", sa.String(64), nullable=False),
        sa.Column("decided_at", moment, nullable=True),
        sa.Column("decided_by", sa.String(300), nullable=False),
        sa.PrimaryKeyConstraint("case_id", name="pk_case_claims"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_case_claims_case_id_cases"),
    )
    op.create_table(
        "case_claim_documents",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("document", sa.String(20), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "document", name="pk_case_claim_documents"),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_claims.case_id"],
            name="fk_case_claim_documents_case_id_case_claims",
        ),
    )
    op.create_index(
        "ix_cases_status_rank_due", "cases", ["status", "priority_rank", "queue_due_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_cases_status_rank_due", table_name="cases")
    op.drop_table("case_claim_documents")
    op.drop_table("case_claims")
    op.drop_table("case_account_profiles")
    op.drop_table("case_agent_departments")
    op.drop_table("case_agents")
