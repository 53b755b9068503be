"""canned replies: the support agents' reusable answers, in English and French

Revision ID: canned_0001
Revises: 0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "canned_0001"
down_revision = "0001"
branch_labels = ("canned",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_canned_replies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("title", sa.String(120), nullable=False),
        sa.Column("department", sa.String(20), nullable=True),
        sa.Column("body_en", sa.Text(), nullable=False),
        sa.Column("body_fr", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_case_canned_replies"),
    )


def downgrade() -> None:
    op.drop_table("case_canned_replies")
