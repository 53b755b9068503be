"""cases_mail: inbound support email kept with its outcome, and the Message-Ids that
thread replies to cases

Revision ID: cases_mail_0001
Revises: 0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "cases_mail_0001"
down_revision = "0001"
branch_labels = ("cases_mail",)
depends_on = None


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "cases_mail_inbound",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("received_at", moment, nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("envelope_sender", sa.String(320), nullable=True),
        sa.Column("sender", sa.String(320), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=True),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("case_number", sa.String(20), nullable=True),
        sa.Column("notified", sa.Boolean(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cases_mail_inbound"),
    )
    op.create_index(
        "ix_cases_mail_inbound_sender", "cases_mail_inbound", ["sender", "received_at"]
    )
    op.create_index(
        "ix_cases_mail_inbound_outcome", "cases_mail_inbound", ["outcome", "received_at"]
    )
    op.create_table(
        "cases_mail_ids",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("case_number", sa.String(20), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cases_mail_ids"),
        sa.UniqueConstraint("message_id", name="uq_cases_mail_ids_message_id"),
    )
    op.create_index("ix_cases_mail_ids_case", "cases_mail_ids", ["case_number", "id"])


def downgrade() -> None:
    op.drop_index("ix_cases_mail_ids_case", table_name="cases_mail_ids")
    op.drop_table("cases_mail_ids")
    op.drop_index("ix_cases_mail_inbound_outcome", table_name="cases_mail_inbound")
    op.drop_index("ix_cases_mail_inbound_sender", table_name="cases_mail_inbound")
    op.drop_table("cases_mail_inbound")
