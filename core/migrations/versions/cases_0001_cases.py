"""cases: support cases, their yearly number counters, messages, links and history

Revision ID: cases_0001
Revises: 0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "cases_0001"
down_revision = "0001"
branch_labels = ("cases",)
depends_on = ("accounts_0001",)

_QUEUE_INDEXES = {
    "ix_cases_status_due": ["status", "queue_due_at", "id"],
    "ix_cases_department_due": ["department", "queue_due_at", "id"],
    "ix_cases_assignee_due": ["assignee_id", "queue_due_at", "id"],
    "ix_cases_priority_due": ["priority", "queue_due_at", "id"],
    "ix_cases_channel_due": ["channel", "queue_due_at", "id"],
    "ix_cases_customer_due": ["customer_number", "queue_due_at", "id"],
    "ix_cases_due": ["queue_due_at", "id"],
    "ix_cases_customer_department_opened": ["customer_number", "department", "opened_at"],
}


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "case_counters",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name="pk_case_counters"),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("number", sa.String(16), nullable=False),
        sa.Column("customer_number", sa.String(10), nullable=True),
        sa.Column("contact_name", sa.String(200), nullable=False),
        sa.Column("contact_email", sa.String(254), nullable=False),
        sa.Column("contact_phone", sa.String(40), nullable=False),
        sa.Column("contact_details", sa.String(500), nullable=False),
        sa.Column("department", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("priority_rank", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("opened_at", moment, nullable=False),
        sa.Column("updated_at", moment, nullable=False),
        sa.Column("first_response_at", moment, nullable=True),
        sa.Column("resolved_at", moment, nullable=True),
        sa.Column("closed_at", moment, nullable=True),
        sa.Column("waiting_since", moment, nullable=True),
        sa.Column("paused_seconds", sa.Integer(), nullable=False),
        sa.Column("first_response_due", moment, nullable=True),
        sa.Column("resolution_due", moment, nullable=True),
        sa.Column("queue_due_at", moment, nullable=False),
        sa.Column("escalated_at", moment, nullable=True),
        sa.Column("escalation_reason", sa.String(500), nullable=False),
        sa.Column("warned_at", moment, nullable=True),
        sa.Column("breached_at", moment, nullable=True),
        sa.Column("recurring", sa.Boolean(), nullable=False),
        sa.Column("merged_into", sa.String(16), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_cases"),
        sa.UniqueConstraint("number", name="uq_cases_number"),
        sa.ForeignKeyConstraint(
            ["customer_number"],
            ["customer_accounts.number"],
            name="fk_cases_customer_number_customer_accounts",
        ),
    )
    for name, columns in _QUEUE_INDEXES.items():
        op.create_index(name, "cases", columns)
    op.create_table(
        "case_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("author_kind", sa.String(10), nullable=False),
        sa.Column("author_id", sa.String(254), nullable=False),
        sa.Column("author_name", sa.String(200), nullable=False),
        sa.Column("author_account", sa.String(10), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("message_id", sa.String(250), nullable=True),
        sa.Column("in_reply_to", sa.String(250), nullable=True),
        sa.Column("attachments", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_case_messages"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_case_messages_case_id_cases"),
    )
    op.create_index("ix_case_messages_case", "case_messages", ["case_id", "id"])
    op.create_index("ix_case_messages_message_id", "case_messages", ["message_id"])
    op.create_table(
        "case_links",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "kind", "reference", name="pk_case_links"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_case_links_case_id_cases"),
    )
    op.create_index("ix_case_links_reference", "case_links", ["kind", "reference"])
    op.create_table(
        "case_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", moment, nullable=False),
        sa.Column("actor", sa.String(300), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("detail", sa.String(1000), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_case_history"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_case_history_case_id_cases"),
    )
    op.create_index("ix_case_history_case", "case_history", ["case_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_case_history_case", table_name="case_history")
    op.drop_table("case_history")
    op.drop_index("ix_case_links_reference", table_name="case_links")
    op.drop_table("case_links")
    op.drop_index("ix_case_messages_message_id", table_name="case_messages")
    op.drop_index("ix_case_messages_case", table_name="case_messages")
    op.drop_table("case_messages")
    for name in _QUEUE_INDEXES:
        op.drop_index(name, table_name="cases")
    op.drop_table("cases")
    op.drop_table("case_counters")
