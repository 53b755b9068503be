"""vault: the chain is keyed from here on; the rows before are sealed under the key

Revision ID: vault_0009_seal
Revises: vault_0008
Create Date: 2026-12-02

Rows written from now on are hashed with HMAC-SHA256 under the ledger key, which is not
in the database (docs/security.md "The ledger's keyed chain"). The rows already written
keep their unkeyed hashes; this revision records where they end (the chain head) in
``ledger_seal``, and seals that boundary (its seq and hash) under the key when postroom
runs the upgrade with it (``postroom db upgrade``, or opening the embedded store):
``migrate.upgrade`` hands the sealing function over in the config's attributes. Run
without it, the boundary stays unsealed: verify then reports ``ledger_unsealed`` until
``postroom vault seal`` seals it. A ledger without rows gets no boundary: every row is
keyed. Stop the writers of an older version first: a row they append after the head
recorded here has no keyed hash.

Downgrading drops the boundary: rows written after it keep their keyed hashes, which an
older version's verify reports as altered.
"""

import sqlalchemy as sa
from alembic import op

revision = "vault_0009_seal"
down_revision = "vault_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    seal = op.create_table(
        "ledger_seal",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("row_hash", sa.String(64), nullable=False),
        sa.Column("mac", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_seal"),
    )
    bind = op.get_bind()
    lock = " FOR UPDATE" if bind.dialect.name == "postgresql" else ""
    head = bind.execute(
        sa.text(f"SELECT head_seq, head_hash FROM ledger_chain WHERE id = 1{lock}")
    ).first()
    if head is None or int(head.head_seq) == 0:
        return
    config = op.get_context().config
    seal_ledger = None if config is None else config.attributes.get("seal_ledger")
    seq, row_hash = int(head.head_seq), str(head.head_hash)
    mac = None if seal_ledger is None else seal_ledger(seq, row_hash)
    op.bulk_insert(seal, [{"id": 1, "seq": seq, "row_hash": row_hash, "mac": mac}])


def downgrade() -> None:
    op.drop_table("ledger_seal")
