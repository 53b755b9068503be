"""rates: published rate tables and ZIP3 zone charts

Revision ID: rates_0001
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "rates_0001"
down_revision = "0001"
branch_labels = ("rates",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_tables",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("carrier", sa.String(60), nullable=False),
        sa.Column("service", sa.String(60), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_until", sa.Date(), nullable=True),
        sa.Column("source_document", sa.Text(), nullable=False),
        sa.Column("source_url", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(300), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rate_tables"),
        sa.UniqueConstraint("digest", name="uq_rate_tables_digest"),
        sa.UniqueConstraint(
            "carrier", "service", "effective_from", name="uq_rate_tables_carrier_service_effective_from"
        ),
    )
    op.create_table(
        "rate_zones",
        sa.Column("carrier", sa.String(60), nullable=False),
        sa.Column("origin_zip3", sa.String(3), nullable=False),
        sa.Column("destination_zip3", sa.String(3), nullable=False),
        sa.Column("zone", sa.String(8), nullable=False),
        sa.PrimaryKeyConstraint(
            "carrier", "origin_zip3", "destination_zip3", name="pk_rate_zones"
        ),
    )


def downgrade() -> None:
    op.drop_table("rate_zones")
    op.drop_table("rate_tables")
