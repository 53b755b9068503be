"""vault: ledger accounts, hash-chained transfers, failures, meter registers

Revision ID: vault_0001
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "vault_0001"
down_revision = "0001"
branch_labels = ("vault",)
depends_on = "accounts_0001"

GENESIS_HASH = "0" * 64

SQLITE_TRIGGERS = [
    """CREATE TRIGGER ledger_transfers_no_update BEFORE UPDATE ON ledger_transfers
    BEGIN SELECT RAISE(ABORT, 'ledger rows are immutable'); END""",
    """CREATE TRIGGER ledger_transfers_no_delete BEFORE DELETE ON ledger_transfers
    BEGIN SELECT RAISE(ABORT, 'ledger rows are immutable'); END""",
]
POSTGRES_TRIGGERS = [
    """CREATE FUNCTION ledger_transfers_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'ledger rows are immutable'; END $$""",
    """CREATE TRIGGER ledger_transfers_immutable BEFORE UPDATE OR DELETE ON ledger_transfers
    FOR EACH ROW EXECUTE FUNCTION ledger_transfers_immutable()""",
]


def upgrade() -> None:
    mills = sa.BigInteger()
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(120), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("credit_limit", mills, nullable=False),
        sa.Column("debits_must_not_exceed_credits", sa.Boolean(), nullable=False),
        sa.Column("credits_must_not_exceed_debits", sa.Boolean(), nullable=False),
        sa.Column("debits_pending", mills, nullable=False),
        sa.Column("debits_posted", mills, nullable=False),
        sa.Column("credits_pending", mills, nullable=False),
        sa.Column("credits_posted", mills, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_accounts"),
        sa.UniqueConstraint("code", name="uq_ledger_accounts_code"),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["customer_accounts.id"],
            name="fk_ledger_accounts_owner_id_customer_accounts",
        ),
    )
    op.create_index("ix_ledger_accounts_owner_id", "ledger_accounts", ["owner_id"])
    op.create_table(
        "ledger_transfers",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("id", sa.String(80), nullable=False),
        sa.Column("debit_account_id", sa.Integer(), nullable=False),
        sa.Column("credit_account_id", sa.Integer(), nullable=False),
        sa.Column("amount", mills, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("phase", sa.String(20), nullable=False),
        sa.Column("code", sa.String(20), nullable=False),
        sa.Column("pending_id", sa.String(80), nullable=True),
        sa.Column("timeout_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("batch", sa.String(64), nullable=True),
        sa.Column("pieces", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("body_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("row_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_ledger_transfers"),
        sa.UniqueConstraint("id", name="uq_ledger_transfers_id"),
        sa.UniqueConstraint("pending_id", name="uq_ledger_transfers_pending_id"),
        sa.ForeignKeyConstraint(
            ["debit_account_id"], ["ledger_accounts.id"],
            name="fk_ledger_transfers_debit_account_id_ledger_accounts",
        ),
        sa.ForeignKeyConstraint(
            ["credit_account_id"], ["ledger_accounts.id"],
            name="fk_ledger_transfers_credit_account_id_ledger_accounts",
        ),
    )
    op.create_index("ix_ledger_transfers_debit_account_id", "ledger_transfers", ["debit_account_id"])
    op.create_index(
        "ix_ledger_transfers_credit_account_id", "ledger_transfers", ["credit_account_id"]
    )
    op.create_index("ix_ledger_transfers_phase_timeout", "ledger_transfers", ["phase", "timeout_at"])
    chain = op.create_table(
        "ledger_chain",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("head_seq", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_chain"),
    )
    op.bulk_insert(chain, [{"id": 1, "head_seq": 0, "head_hash": GENESIS_HASH}])
    op.create_table(
        "ledger_failures",
        sa.Column("id", sa.String(80), nullable=False),
        sa.Column("body_hash", sa.String(64), nullable=False),
        sa.Column("code", sa.String(60), nullable=False),
        sa.Column("message", sa.String(300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_failures"),
    )
    op.create_table(
        "meter_registers",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(60), nullable=False),
        sa.Column("customer_account_id", sa.Integer(), nullable=False),
        sa.Column("operator", sa.String(40), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("descending", mills, nullable=False),
        sa.Column("ascending", mills, nullable=False),
        sa.Column("control_sum", mills, nullable=False),
        sa.Column("pieces", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name="pk_meter_registers"),
        sa.UniqueConstraint("serial", name="uq_meter_registers_serial"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_accounts.id"],
            name="fk_meter_registers_account_id_ledger_accounts",
        ),
        sa.ForeignKeyConstraint(
            ["customer_account_id"], ["customer_accounts.id"],
            name="fk_meter_registers_customer_account_id_customer_accounts",
        ),
    )
    triggers = POSTGRES_TRIGGERS if op.get_bind().dialect.name == "postgresql" else SQLITE_TRIGGERS
    for statement in triggers:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER ledger_transfers_immutable ON ledger_transfers")
        op.execute("DROP FUNCTION ledger_transfers_immutable()")
    op.drop_table("meter_registers")
    op.drop_table("ledger_failures")
    op.drop_table("ledger_chain")
    op.drop_table("ledger_transfers")
    op.drop_table("ledger_accounts")
