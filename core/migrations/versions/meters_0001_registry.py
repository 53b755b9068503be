"""meters: the meter registry, uploaded pieces, syncs, alerts, provisioning, assets

Revision ID: meters_0001
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op


revision = "meters_0001"
down_revision = "0001"
branch_labels = ("meters",)
depends_on = ("vault_0003", "accounts_0001")


def upgrade() -> None:
    op.create_table(
        "meters",
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("customer_account_id", sa.Integer(), nullable=False),
        sa.Column("product_code", sa.String(20), nullable=False),
        sa.Column("model", sa.String(60), nullable=False),
        sa.Column("carrier", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("installation_number", sa.String(11), nullable=True),
        sa.Column("public_key_pem", sa.Text(), nullable=True),
        sa.Column("firmware", sa.String(40), nullable=True),
        sa.Column("features", sa.Text(), nullable=False),
        sa.Column("graphics", sa.Text(), nullable=False),
        sa.Column("ad_slogan", sa.String(200), nullable=False),
        sa.Column("cost_centers", sa.Text(), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_piece", sa.BigInteger(), nullable=False),
        sa.Column("inspected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("inspection_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("inspection_lock_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("device", sa.Text(), nullable=False),
        sa.Column("key_prefix", sa.String(24), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("serial", name="pk_meters"),
        sa.ForeignKeyConstraint(
            ["customer_account_id"],
            ["customer_accounts.id"],
            name="fk_meters_customer_account_id_customer_accounts",
        ),
        sa.UniqueConstraint("installation_number", name="uq_meters_installation_number"),
        sa.UniqueConstraint("key_prefix", name="uq_meters_key_prefix"),
    )
    op.create_index("ix_meters_customer_account_id", "meters", ["customer_account_id"])
    op.create_table(
        "meter_pieces",
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("piece", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("mills", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("mailing_date", sa.String(10), nullable=False),
        sa.Column("service", sa.String(80), nullable=False),
        sa.Column("origin_zip", sa.String(20), nullable=False),
        sa.Column("cost_center", sa.String(60), nullable=True),
        sa.Column("printed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("usage_transfer_id", sa.String(64), nullable=False),
        sa.Column("recorded", sa.Boolean(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("serial", "piece", name="pk_meter_pieces"),
        sa.ForeignKeyConstraint(
            ["serial"], ["meters.serial"], name="fk_meter_pieces_serial_meters"
        ),
    )
    op.create_index("ix_meter_pieces_usage_transfer_id", "meter_pieces", ["usage_transfer_id"])
    op.create_table(
        "meter_syncs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("plan", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_meter_syncs"),
        sa.ForeignKeyConstraint(["serial"], ["meters.serial"], name="fk_meter_syncs_serial_meters"),
    )
    op.create_index("ix_meter_syncs_serial", "meter_syncs", ["serial"])
    op.create_table(
        "meter_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("fingerprint", sa.String(200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_meter_alerts"),
        sa.ForeignKeyConstraint(
            ["serial"], ["meters.serial"], name="fk_meter_alerts_serial_meters"
        ),
        sa.UniqueConstraint("fingerprint", name="uq_meter_alerts_fingerprint"),
    )
    op.create_index("ix_meter_alerts_serial", "meter_alerts", ["serial"])
    op.create_table(
        "meter_provisioning",
        sa.Column("installation_number", sa.String(11), nullable=False),
        sa.Column("product_code", sa.String(20), nullable=False),
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("installation_number", name="pk_meter_provisioning"),
        sa.UniqueConstraint("serial", name="uq_meter_provisioning_serial"),
    )
    op.create_table(
        "meter_assets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("scope", sa.String(60), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_meter_assets"),
    )
    op.create_index("ix_meter_assets_kind", "meter_assets", ["kind", "scope"])
    op.create_table(
        "meter_reminders",
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("serial", "deadline", "kind", name="pk_meter_reminders"),
        sa.ForeignKeyConstraint(
            ["serial"], ["meters.serial"], name="fk_meter_reminders_serial_meters"
        ),
    )


def downgrade() -> None:
    op.drop_table("meter_reminders")
    op.drop_index("ix_meter_assets_kind", table_name="meter_assets")
    op.drop_table("meter_assets")
    op.drop_table("meter_provisioning")
    op.drop_index("ix_meter_alerts_serial", table_name="meter_alerts")
    op.drop_table("meter_alerts")
    op.drop_index("ix_meter_syncs_serial", table_name="meter_syncs")
    op.drop_table("meter_syncs")
    op.drop_index("ix_meter_pieces_usage_transfer_id", table_name="meter_pieces")
    op.drop_table("meter_pieces")
    op.drop_index("ix_meters_customer_account_id", table_name="meters")
    op.drop_table("meters")
