"""vault: on PostgreSQL, a ledger row is checked once per statement, not once per row

Revision ID: vault_0008
Revises: vault_0007
Create Date: 2026-11-23

A mail run appends a thousand rows a statement. Each row paid for two foreign-key
triggers (each a locking read of an account the statement holds locked already) and
for two index entries nothing reads: a NULL ``pending_id`` (every posted row) and the
expiry index, which only pending rows with a timeout need. Measured on 1,000-row
inserts these were over half the server's time.

- The foreign keys of ``debit_account_id`` and ``credit_account_id`` become part of the
  statement-level trigger that already refuses failed ids: after each insert it checks
  that every account the new rows name exists. Ledger accounts are never deleted or
  renumbered (a trigger refuses it), so no later change can orphan a row.
- ``pending_id`` stays unique where it is set; the expiry index holds pending rows with
  a timeout only (the worker's query names both conditions).

SQLite keeps its foreign keys (an index probe each) and its constraints as they are.
"""

from alembic import op

revision = "vault_0008"
down_revision = "vault_0007"
branch_labels = None
depends_on = None

POSTGRES_UP = [
    """CREATE FUNCTION ledger_transfers_checked() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM inserted JOIN ledger_failures USING (id)) THEN
            RAISE EXCEPTION 'a transfer id that failed stays failed'
                USING ERRCODE = 'unique_violation';
        END IF;
        IF EXISTS (
            SELECT 1 FROM (
                SELECT debit_account_id AS account_id FROM inserted
                UNION SELECT credit_account_id FROM inserted
            ) named
            WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts a WHERE a.id = named.account_id)
        ) THEN
            RAISE EXCEPTION 'a ledger row names an account that does not exist'
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        RETURN NULL;
    END $$""",
    "DROP TRIGGER ledger_transfers_not_failed ON ledger_transfers",
    "DROP FUNCTION ledger_transfers_not_failed()",
    """CREATE TRIGGER ledger_transfers_checked AFTER INSERT ON ledger_transfers
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_transfers_checked()""",
    "ALTER TABLE ledger_transfers"
    " DROP CONSTRAINT fk_ledger_transfers_debit_account_id_ledger_accounts,"
    " DROP CONSTRAINT fk_ledger_transfers_credit_account_id_ledger_accounts",
    """CREATE FUNCTION ledger_accounts_kept() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'ledger accounts are never deleted or renumbered'
            USING ERRCODE = 'restrict_violation';
    END $$""",
    """CREATE TRIGGER ledger_accounts_kept BEFORE DELETE OR UPDATE OF id ON ledger_accounts
    FOR EACH ROW EXECUTE FUNCTION ledger_accounts_kept()""",
    "ALTER TABLE ledger_transfers DROP CONSTRAINT uq_ledger_transfers_pending_id",
    "CREATE UNIQUE INDEX uq_ledger_transfers_pending_id ON ledger_transfers (pending_id)"
    " WHERE pending_id IS NOT NULL",
    "DROP INDEX ix_ledger_transfers_phase_timeout",
    "CREATE INDEX ix_ledger_transfers_pending_timeout ON ledger_transfers (timeout_at)"
    " WHERE phase = 'pending' AND timeout_at IS NOT NULL",
]

POSTGRES_DOWN = [
    "DROP INDEX ix_ledger_transfers_pending_timeout",
    "CREATE INDEX ix_ledger_transfers_phase_timeout ON ledger_transfers (phase, timeout_at)",
    "DROP INDEX uq_ledger_transfers_pending_id",
    "ALTER TABLE ledger_transfers ADD CONSTRAINT uq_ledger_transfers_pending_id"
    " UNIQUE (pending_id)",
    "DROP TRIGGER ledger_accounts_kept ON ledger_accounts",
    "DROP FUNCTION ledger_accounts_kept()",
    "ALTER TABLE ledger_transfers"
    " ADD CONSTRAINT fk_ledger_transfers_debit_account_id_ledger_accounts"
    " FOREIGN KEY (debit_account_id) REFERENCES ledger_accounts (id),"
    " ADD CONSTRAINT fk_ledger_transfers_credit_account_id_ledger_accounts"
    " FOREIGN KEY (credit_account_id) REFERENCES ledger_accounts (id)",
    """CREATE FUNCTION ledger_transfers_not_failed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM inserted JOIN ledger_failures USING (id)) THEN
            RAISE EXCEPTION 'a transfer id that failed stays failed'
                USING ERRCODE = 'unique_violation';
        END IF;
        RETURN NULL;
    END $$""",
    "DROP TRIGGER ledger_transfers_checked ON ledger_transfers",
    "DROP FUNCTION ledger_transfers_checked()",
    """CREATE TRIGGER ledger_transfers_not_failed AFTER INSERT ON ledger_transfers
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_transfers_not_failed()""",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_UP:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_DOWN:
            op.execute(statement)
