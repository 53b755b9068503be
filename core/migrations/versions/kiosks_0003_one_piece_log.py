"""kiosks: one piece log: the signed meter pieces move into kiosk_pieces

``kiosk_pieces`` (the reports' log, kiosk_log_0001) gains the print's request id and
the misprint flag and refund id of ``kiosk_meter_pieces`` (kiosks_0002); each row of
``kiosk_meter_pieces`` goes onto the row of the same meter piece (the terminal logged
most pieces in both) or becomes one (terminal unknown: ""), then the table is dropped.

Revision ID: kiosks_0003
Revises: kiosks_0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "kiosks_0003"
down_revision = "kiosks_0002"
branch_labels = None
depends_on = ("kiosk_log_0001",)

#: The signed columns that move, and the row of the same piece in kiosk_meter_pieces.
MOVED = ("request_id", "misprint_at", "refund_id")
SAME_PIECE = "m.serial = kiosk_pieces.serial AND m.piece = kiosk_pieces.piece"


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    with op.batch_alter_table("kiosk_pieces") as table:
        table.add_column(sa.Column("request_id", sa.String(64), nullable=True))
        table.add_column(sa.Column("misprint_at", moment, nullable=True))
        table.add_column(sa.Column("refund_id", sa.String(40), nullable=True))
        # a meter's serial may be as long as kiosk_meter_pieces kept it
        table.alter_column("serial", type_=sa.String(60), existing_nullable=False)
    # the signed facts win: the operator who signed in and the cost centre of the print
    assignments = ", ".join(
        f"{column} = (SELECT m.{column} FROM kiosk_meter_pieces m WHERE {SAME_PIECE})"
        for column in (*MOVED, "operator_id", "operator_name", "cost_center")
    )
    op.execute(
        f"UPDATE kiosk_pieces SET {assignments} "
        f"WHERE EXISTS (SELECT 1 FROM kiosk_meter_pieces m WHERE {SAME_PIECE} "
        "AND m.customer_number = kiosk_pieces.customer_number)"
    )
    columns = (
        "customer_number, serial, piece, printed_at, mills, currency, carrier, service, "
        "cost_center, operator_id, operator_name"
    )
    op.execute(
        f"INSERT INTO kiosk_pieces ({columns}, terminal, source, {', '.join(MOVED)}) "
        f"SELECT {', '.join('m.' + c.strip() for c in columns.split(','))}, '', 'meter', "
        f"{', '.join('m.' + c for c in MOVED)} FROM kiosk_meter_pieces m "
        "WHERE NOT EXISTS (SELECT 1 FROM kiosk_pieces p "
        "WHERE p.serial = m.serial AND p.piece = m.piece) ORDER BY m.id"
    )
    op.drop_index("ix_kiosk_meter_pieces_customer_number", table_name="kiosk_meter_pieces")
    op.drop_table("kiosk_meter_pieces")


def downgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "kiosk_meter_pieces",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_number", sa.String(10), nullable=False),
        sa.Column("serial", sa.String(60), nullable=False),
        sa.Column("piece", sa.Integer(), nullable=False),
        sa.Column("mills", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("carrier", sa.String(80), nullable=False),
        sa.Column("service", sa.String(80), nullable=False),
        sa.Column("cost_center", sa.String(64), nullable=True),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("operator_name", sa.String(80), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("printed_at", moment, nullable=False),
        sa.Column("misprint_at", moment, nullable=True),
        sa.Column("refund_id", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_kiosk_meter_pieces"),
        sa.UniqueConstraint("serial", "piece", name="uq_kiosk_meter_pieces_serial_piece"),
        sa.ForeignKeyConstraint(
            ["customer_number"],
            ["customer_accounts.number"],
            name="fk_kiosk_meter_pieces_customer_number_customer_accounts",
        ),
    )
    op.create_index(
        "ix_kiosk_meter_pieces_customer_number",
        "kiosk_meter_pieces",
        ["customer_number", "printed_at"],
    )
    op.execute(
        "INSERT INTO kiosk_meter_pieces (customer_number, serial, piece, mills, currency, "
        "carrier, service, cost_center, operator_id, operator_name, request_id, printed_at, "
        "misprint_at, refund_id) SELECT customer_number, serial, piece, mills, currency, "
        "carrier, service, cost_center, operator_id, operator_name, request_id, printed_at, "
        "misprint_at, refund_id FROM kiosk_pieces "
        "WHERE request_id IS NOT NULL AND operator_id IS NOT NULL ORDER BY id"
    )
    with op.batch_alter_table("kiosk_pieces") as table:
        table.drop_column("refund_id")
        table.drop_column("misprint_at")
        table.drop_column("request_id")
        table.alter_column("serial", type_=sa.String(32), existing_nullable=False)
