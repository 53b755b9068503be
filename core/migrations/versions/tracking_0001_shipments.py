"""tracking: shipments, their scan events and the trace requests kept for staff

Revision ID: tracking_0001
Revises: 0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "tracking_0001"
down_revision = "0001"
branch_labels = ("tracking",)
depends_on = ("accounts_0001",)


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "shipments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("number", sa.String(40), nullable=False),
        sa.Column("number_format", sa.String(30), nullable=False),
        sa.Column("carrier", sa.String(40), nullable=False),
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("customer_number", sa.String(10), nullable=False),
        sa.Column("sender", sa.String(200), nullable=False),
        sa.Column("recipient", sa.String(200), nullable=False),
        sa.Column("origin", sa.String(200), nullable=False),
        sa.Column("destination", sa.String(200), nullable=False),
        sa.Column("mailed_on", sa.Date(), nullable=True),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("customs_contents", sa.String(200), nullable=True),
        sa.Column("customs_hs_codes", sa.String(200), nullable=True),
        sa.Column("customs_value_mills", sa.BigInteger(), nullable=True),
        sa.Column("customs_currency", sa.String(3), nullable=True),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("delayed", sa.Boolean(), nullable=False),
        sa.Column("lost_candidate", sa.Boolean(), nullable=False),
        sa.Column("misrouted", sa.Boolean(), nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("status_changed_at", moment, nullable=False),
        sa.Column("last_scan_at", moment, nullable=True),
        sa.Column("checked_at", moment, nullable=True),
        sa.Column("next_check_at", moment, nullable=True),
        sa.Column("last_error", sa.String(40), nullable=False),
        sa.Column("delivered_at", moment, nullable=True),
        sa.Column("signed_by", sa.String(200), nullable=True),
        sa.Column("proof_reference", sa.String(200), nullable=True),
        sa.Column("auto_trace", sa.Boolean(), nullable=False),
        sa.Column("trace_reference", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_shipments"),
        sa.UniqueConstraint(
            "customer_number",
            "carrier",
            "number",
            name="uq_shipments_customer_number_carrier_number",
        ),
        sa.ForeignKeyConstraint(
            ["customer_number"],
            ["customer_accounts.number"],
            name="fk_shipments_customer_number_customer_accounts",
        ),
    )
    op.create_index("ix_shipments_number", "shipments", ["number"])
    op.create_index("ix_shipments_next_check_at", "shipments", ["next_check_at"])
    op.create_index("ix_shipments_customer_status", "shipments", ["customer_number", "status"])
    op.create_table(
        "shipment_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("shipment_id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", moment, nullable=False),
        sa.Column("utc_offset_minutes", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("description", sa.String(300), nullable=False),
        sa.Column("location", sa.String(200), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_shipment_events"),
        sa.UniqueConstraint(
            "shipment_id",
            "occurred_at",
            "code",
            "location",
            name="uq_shipment_events_shipment_id_occurred_at_code_location",
        ),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["shipments.id"],
            name="fk_shipment_events_shipment_id_shipments",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "shipment_trace_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("reference", sa.String(20), nullable=False),
        sa.Column("shipment_id", sa.Integer(), nullable=False),
        sa.Column("customer_number", sa.String(10), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("note", sa.String(1000), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", moment, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_shipment_trace_requests"),
        sa.UniqueConstraint("reference", name="uq_shipment_trace_requests_reference"),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["shipments.id"],
            name="fk_shipment_trace_requests_shipment_id_shipments",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_shipment_trace_requests_shipment", "shipment_trace_requests", ["shipment_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_shipment_trace_requests_shipment", table_name="shipment_trace_requests")
    op.drop_table("shipment_trace_requests")
    op.drop_table("shipment_events")
    op.drop_index("ix_shipments_customer_status", table_name="shipments")
    op.drop_index("ix_shipments_next_check_at", table_name="shipments")
    op.drop_index("ix_shipments_number", table_name="shipments")
    op.drop_table("shipments")
