"""vault: on PostgreSQL, a transfer id recorded as failed can never become a transfer

Revision ID: vault_0005
Revises: vault_0004
Create Date: 2026-11-23

The service checks this itself, but a posted debit on PostgreSQL runs as one statement
whose snapshot predates the account locks it waits for: a twin request that failed
while it waited is invisible to it. This statement-level trigger reads a fresh snapshot
after the insert and refuses the row with a unique violation, which the service answers
as a replay ("failed before"). SQLite's single writer cannot interleave that way.
"""

from alembic import op

revision = "vault_0005"
down_revision = "vault_0004"
branch_labels = None
depends_on = None

POSTGRES_UP = [
    """CREATE FUNCTION ledger_transfers_not_failed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM inserted JOIN ledger_failures USING (id)) THEN
            RAISE EXCEPTION 'a transfer id that failed stays failed'
                USING ERRCODE = 'unique_violation';
        END IF;
        RETURN NULL;
    END $$""",
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
        op.execute("DROP TRIGGER ledger_transfers_not_failed ON ledger_transfers")
        op.execute("DROP FUNCTION ledger_transfers_not_failed()")
