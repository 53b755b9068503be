"""knowledge: live chat conversations and messages (the queue per department)

Revision ID: knowledge_0002
Revises: knowledge_0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "knowledge_0002"
down_revision = "knowledge_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "chat_conversations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token", sa.String(43), nullable=False),
        sa.Column("customer_number", sa.String(10), nullable=False),
        sa.Column("customer_name", sa.String(200), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("department", sa.String(20), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("misses", sa.Integer(), nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("last_seen_at", moment, nullable=False),
        sa.Column("queued_at", moment, nullable=True),
        sa.Column("agent_id", sa.String(40), nullable=True),
        sa.Column("agent_name", sa.String(200), nullable=True),
        sa.Column("taken_at", moment, nullable=True),
        sa.Column("closed_at", moment, nullable=True),
        sa.Column("case_number", sa.String(40), nullable=True),
        sa.Column("customer_typing_at", moment, nullable=True),
        sa.Column("agent_typing_at", moment, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_chat_conversations"),
        sa.UniqueConstraint("token", name="uq_chat_conversations_token"),
    )
    op.create_index(
        "ix_chat_conversations_queue", "chat_conversations", ["status", "department", "queued_at"]
    )
    op.create_table(
        "chat_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(10), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("at", moment, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_chat_messages"),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["chat_conversations.id"],
            name="fk_chat_messages_conversation_id_chat_conversations",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_chat_messages_conversation", "chat_messages", ["conversation_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_chat_messages_conversation", table_name="chat_messages")
    op.drop_table("chat_messages")
    op.drop_index("ix_chat_conversations_queue", table_name="chat_conversations")
    op.drop_table("chat_conversations")
