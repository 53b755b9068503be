"""Tables and repository of the vault (SQLAlchemy Core).

``ledger_transfers`` is append-only: this repository has no way to change or delete a
row, and the migration adds triggers that refuse UPDATE and DELETE in the database.
The account balance columns and the meter registers are a cache of what the transfers
say; ``LedgerService.verify`` re-derives them from the rows.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.engine import Connection, Row

from postroom.core.clock import utc
from postroom.core.db import Database, UnitOfWork, copy_rows, metadata
from postroom.core.ledger.model import (
    CODE_TEXT,
    GENESIS_HASH,
    PHASE_TEXT,
    AccountKind,
    Balances,
    ChainKey,
    ChainSeal,
    LedgerAccount,
    LedgerInvariantBroken,
    MeterRegisters,
    Phase,
    Transfer,
    TransferCode,
)

Mills = sa.BigInteger

ledger_accounts = sa.Table(
    "ledger_accounts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("code", sa.String(120), nullable=False, unique=True),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("owner_id", sa.Integer, sa.ForeignKey("customer_accounts.id"), nullable=True),
    sa.Column("credit_limit", Mills, nullable=False),
    sa.Column("debits_must_not_exceed_credits", sa.Boolean, nullable=False),
    sa.Column("credits_must_not_exceed_debits", sa.Boolean, nullable=False),
    sa.Column("debits_pending", Mills, nullable=False),
    sa.Column("debits_posted", Mills, nullable=False),
    sa.Column("credits_pending", Mills, nullable=False),
    sa.Column("credits_posted", Mills, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_ledger_accounts_owner_id", "owner_id"),
)

#: On PostgreSQL, migration vault_0008 checks the two accounts once per statement instead
#: of by these foreign keys, keeps ``pending_id`` unique where set, and indexes expiry for
#: pending rows only: SQLite keeps the table as declared here.
ledger_transfers = sa.Table(
    "ledger_transfers",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("id", sa.String(80), nullable=False, unique=True),
    sa.Column("debit_account_id", sa.Integer, sa.ForeignKey("ledger_accounts.id"), nullable=False),
    sa.Column("credit_account_id", sa.Integer, sa.ForeignKey("ledger_accounts.id"), nullable=False),
    sa.Column("amount", Mills, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("phase", sa.String(20), nullable=False),
    sa.Column("code", sa.String(20), nullable=False),
    # unique: a pending transfer is posted, voided or expired exactly once
    sa.Column("pending_id", sa.String(80), nullable=True, unique=True),
    sa.Column("timeout_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("batch", sa.String(64), nullable=True),
    sa.Column("pieces", sa.Integer, nullable=False),
    sa.Column("reference", sa.String(200), nullable=False),
    sa.Column("cost_center", sa.String(60), nullable=True),
    sa.Column("body_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("row_hash", sa.String(64), nullable=False),
    sa.Index("ix_ledger_transfers_debit_account_id", "debit_account_id"),
    sa.Index("ix_ledger_transfers_credit_account_id", "credit_account_id"),
    sa.Index("ix_ledger_transfers_phase_timeout", "phase", "timeout_at"),
)

#: One row: the head of the hash chain. Locking it orders every ledger write.
ledger_chain = sa.Table(
    "ledger_chain",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("head_seq", sa.BigInteger, nullable=False),
    sa.Column("head_hash", sa.String(64), nullable=False),
)

#: At most one row: where the keyed chain begins (``ChainSeal``). Rows up to ``seq`` were
#: written before the chain was keyed; ``mac`` seals the last of them under the ledger
#: key. No row: every row is keyed (a ledger begun after migration ``vault_0009_seal``).
ledger_seal = sa.Table(
    "ledger_seal",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("row_hash", sa.String(64), nullable=False),
    sa.Column("mac", sa.String(64), nullable=True),
)

#: Transfer ids that failed for a reason that must stick (insufficient funds).
ledger_failures = sa.Table(
    "ledger_failures",
    metadata,
    sa.Column("id", sa.String(80), primary_key=True),
    sa.Column("body_hash", sa.String(64), nullable=False),
    sa.Column("code", sa.String(60), nullable=False),
    sa.Column("message", sa.String(300), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

meter_registers = sa.Table(
    "meter_registers",
    metadata,
    sa.Column("account_id", sa.Integer, sa.ForeignKey("ledger_accounts.id"), primary_key=True),
    sa.Column("serial", sa.String(60), nullable=False, unique=True),
    sa.Column(
        "customer_account_id", sa.Integer, sa.ForeignKey("customer_accounts.id"), nullable=False
    ),
    sa.Column("operator", sa.String(40), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("descending", Mills, nullable=False),
    sa.Column("ascending", Mills, nullable=False),
    sa.Column("control_sum", Mills, nullable=False),
    sa.Column("pieces", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(20), nullable=False, server_default="active"),
)

_BALANCE_COLUMNS = ("debits_pending", "debits_posted", "credits_pending", "credits_posted")

# ------------------------------------------------------------- the transfer path
# A transfer's statements are built once: building a SQLAlchemy statement per call cost
# more CPU than running it. On PostgreSQL a posted debit is two statements and the
# commit: lock the accounts (with an idempotency pre-check), then one statement that
# appends the row to the chain (the server completes the row hash with the seq it
# assigns), moves the chain head and writes the balances.
#
# The row hash is keyed (``ChainKey.row_hash``, HMAC-SHA256). Where the server completes
# it, the statement gets the key's two HMAC pads as parameters and computes
# sha256(opad || sha256(ipad || message)): the key is never stored, and every function,
# operator and type there is named in pg_catalog, so that a role that can create objects
# in the search path cannot slip its own in to read the pads. The service checks the
# answer against ``ChainKey.row_hash`` before the commit.

_ACCOUNT_COLUMNS = (
    "ledger_accounts.id, code, kind, currency, owner_id, credit_limit,"
    " debits_must_not_exceed_credits, credits_must_not_exceed_debits,"
    " debits_pending, debits_posted, credits_pending, credits_posted, created_at"
)
_LOCK_FOR_TRANSFER = """
SELECT {columns},
    {seen} AS seen
FROM ledger_accounts
WHERE ledger_accounts.id {account_ids} OR ledger_accounts.code {codes}
ORDER BY ledger_accounts.id{lock}
"""
# PostgreSQL's planner prices a thousand index probes above a scan of a young ledger
# (random_page_cost assumes disk, and an unvacuumed table has no visibility map), and the
# scan grows with every batch. Each id is looked up through the unique index instead.
_SEEN_PG = """EXISTS (
        SELECT 1 FROM unnest(CAST(:ids AS VARCHAR[])) AS asked(id)
        CROSS JOIN LATERAL (
            SELECT 1 FROM ledger_transfers WHERE ledger_transfers.id = asked.id
            UNION ALL SELECT 1 FROM ledger_failures WHERE ledger_failures.id = asked.id
            LIMIT 1
        ) AS found
    )"""
_LOCK_FOR_TRANSFER_PG = sa.text(
    _LOCK_FOR_TRANSFER.format(
        columns=_ACCOUNT_COLUMNS,
        seen=_SEEN_PG,
        account_ids="= ANY(CAST(:account_ids AS INTEGER[]))",
        codes="= ANY(CAST(:codes AS VARCHAR[]))",
        lock="\nFOR UPDATE OF ledger_accounts",
    )
).columns(created_at=sa.DateTime(timezone=True))
_LOCK_FOR_TRANSFER_SQLITE = (
    sa.text(
        _LOCK_FOR_TRANSFER.format(
            columns=_ACCOUNT_COLUMNS,
            seen="EXISTS (SELECT 1 FROM ledger_transfers WHERE ledger_transfers.id IN :ids)"
            " OR EXISTS (SELECT 1 FROM ledger_failures WHERE ledger_failures.id IN :ids)",
            account_ids="IN :account_ids",
            codes="IN :codes",
            lock="",  # BEGIN IMMEDIATE holds the database's only write lock already
        )
    )
    .bindparams(
        sa.bindparam("ids", expanding=True),
        sa.bindparam("account_ids", expanding=True),
        sa.bindparam("codes", expanding=True),
    )
    .columns(created_at=sa.DateTime(timezone=True))
)

#: One row onto the chain in one statement, unless its id was taken meanwhile (a twin
#: that committed while this transaction waited for the account locks: this statement's
#: snapshot is newer than those locks, so it sees it). Nothing is written then.
_APPEND_ONE_PG = sa.text(
    """
WITH head AS (
    SELECT head_seq, head_hash FROM ledger_chain
    WHERE id = 1
        AND NOT EXISTS (SELECT 1 FROM ledger_transfers WHERE id = CAST(:id AS VARCHAR))
        AND NOT EXISTS (SELECT 1 FROM ledger_failures WHERE id = CAST(:id AS VARCHAR))
    FOR UPDATE
), sealed AS (
    INSERT INTO ledger_transfers (
        seq, id, debit_account_id, credit_account_id, amount, currency, phase, code,
        pending_id, timeout_at, batch, pieces, reference, cost_center, body_hash, created_at,
        prev_hash, row_hash)
    SELECT head_seq + 1, CAST(:id AS VARCHAR), CAST(:debit_account_id AS INTEGER),
        CAST(:credit_account_id AS INTEGER), CAST(:amount AS BIGINT),
        CAST(:currency AS VARCHAR), CAST(:phase AS VARCHAR), CAST(:code AS VARCHAR),
        CAST(:pending_id AS VARCHAR), CAST(:timeout_at AS TIMESTAMPTZ),
        CAST(:batch AS VARCHAR), CAST(:pieces AS INTEGER), CAST(:reference AS VARCHAR),
        CAST(:cost_center AS VARCHAR), CAST(:body_hash AS VARCHAR),
        CAST(:created_at AS TIMESTAMPTZ), head_hash,
        pg_catalog.encode(pg_catalog.sha256(
            CAST(:opad AS pg_catalog.bytea) OPERATOR(pg_catalog.||) pg_catalog.sha256(
                CAST(:ipad AS pg_catalog.bytea) OPERATOR(pg_catalog.||) pg_catalog.convert_to(
                    head_hash || E'\\n[' || CAST(head_seq + 1 AS TEXT) || ','
                        || CAST(:tail AS TEXT),
                    'UTF8'))), 'hex')
    FROM head
    RETURNING seq, prev_hash, row_hash
), moved AS (
    UPDATE ledger_chain SET head_seq = sealed.seq, head_hash = sealed.row_hash
    FROM sealed WHERE ledger_chain.id = 1
    RETURNING 1
), balanced AS (
    UPDATE ledger_accounts SET debits_pending = v.dp, debits_posted = v.dd,
        credits_pending = v.cp, credits_posted = v.cc
    FROM unnest(CAST(:account_ids AS INTEGER[]), CAST(:dp AS BIGINT[]), CAST(:dd AS BIGINT[]),
        CAST(:cp AS BIGINT[]), CAST(:cc AS BIGINT[])) AS v(id, dp, dd, cp, cc), sealed
    WHERE ledger_accounts.id = v.id
    RETURNING 1
)
SELECT seq, prev_hash, row_hash, (SELECT count(*) FROM moved) AS moved,
    (SELECT count(*) FROM balanced) AS balanced
FROM sealed
"""
)

#: A posted transfer's two accounts under short names, and the rules the transfer must
#: keep: one text for both stores' checks in SQL, each with its own parameter markers.
#: A sum past BIGINT is left to the general path (SQLite would make it a float).
_PAIR_ACCOUNTS = """SELECT id, code, kind, currency, credit_limit,
        debits_must_not_exceed_credits AS dmnec, credits_must_not_exceed_debits AS cmned,
        debits_pending AS dp, debits_posted AS dd, credits_pending AS cp, credits_posted AS cc
    FROM ledger_accounts
    WHERE id IN ({debit_account_id}, {credit_account_id})"""
_PAIR_RULES = """d.id = {debit_account_id}
        AND c.id = {credit_account_id}
        AND d.id <> c.id
        AND d.code = COALESCE({debit_code}, d.code)
        AND c.code = COALESCE({credit_code}, c.code)
        AND d.currency = {currency}
        AND c.currency = {currency}
        AND d.kind <> 'meter' AND c.kind <> 'meter'
        AND NOT (d.dmnec AND d.dp + d.dd + {amount} > d.cc + d.credit_limit)
        AND NOT (d.cmned AND d.cp + d.cc > d.dd + {amount})
        AND NOT (c.dmnec AND c.dp + c.dd > c.cc + {amount} + c.credit_limit)
        AND NOT (c.cmned AND c.cp + c.cc + {amount} > c.dd)
        AND {least}(d.dp, d.dd + {amount}, d.cp, d.cc,
            c.dp, c.dd, c.cp, c.cc + {amount}) >= 0
        AND {greatest}(d.dd, c.cc) <= 9223372036854775807 - {amount}
        AND NOT EXISTS (SELECT 1 FROM ledger_transfers WHERE id = {id})
        AND NOT EXISTS (SELECT 1 FROM ledger_failures WHERE id = {id})"""
_PG_MARKERS = {
    "debit_account_id": "CAST(%(debit_account_id)s AS INTEGER)",
    "credit_account_id": "CAST(%(credit_account_id)s AS INTEGER)",
    "debit_code": "CAST(%(debit_code)s AS VARCHAR)",
    "credit_code": "CAST(%(credit_code)s AS VARCHAR)",
    "currency": "CAST(%(currency)s AS VARCHAR)",
    "amount": "CAST(%(amount)s AS BIGINT)",
    "id": "CAST(%(id)s AS VARCHAR)",
    "least": "LEAST",
    "greatest": "GREATEST",
}
_SQLITE_MARKERS = {
    **{name: f":{name}" for name in _PG_MARKERS},
    "least": "min",
    "greatest": "max",
}

#: A posted transfer between two accounts that are not meters, whole, in one statement
#: run on its own (queued on ``CHAIN_QUEUE``, one round trip): lock both accounts
#: (ascending id), check every balance rule and that the id is new, lock the chain head,
#: append the row (hash completed by the server), move the head, write the balances. It
#: writes nothing when any check fails: the service then runs the general path, which
#: says why. The locks are held by the server alone, from the first lock to the commit,
#: with no client round trip in between.
_POST_AT_ONCE_TEMPLATE = """
WITH locked AS MATERIALIZED (
    {accounts}
    ORDER BY id
    FOR UPDATE
), pair AS MATERIALIZED (
    SELECT d.id
    FROM locked AS d, locked AS c
    WHERE {rules}
), head AS MATERIALIZED (
    SELECT head_seq, head_hash FROM ledger_chain
    WHERE id = 1 AND EXISTS (SELECT 1 FROM pair)
    FOR UPDATE
), sealed AS (
    INSERT INTO ledger_transfers (
        seq, id, debit_account_id, credit_account_id, amount, currency, phase, code,
        pending_id, timeout_at, batch, pieces, reference, cost_center, body_hash, created_at,
        prev_hash, row_hash)
    SELECT head_seq + 1, CAST(%(id)s AS VARCHAR), CAST(%(debit_account_id)s AS INTEGER),
        CAST(%(credit_account_id)s AS INTEGER), CAST(%(amount)s AS BIGINT),
        CAST(%(currency)s AS VARCHAR), 'posted', CAST(%(code)s AS VARCHAR), NULL, NULL, NULL,
        CAST(%(pieces)s AS INTEGER), CAST(%(reference)s AS VARCHAR),
        CAST(%(cost_center)s AS VARCHAR),
        CAST(%(body_hash)s AS VARCHAR), CAST(%(created_at)s AS TIMESTAMPTZ), head_hash,
        pg_catalog.encode(pg_catalog.sha256(
            CAST(%(opad)s AS pg_catalog.bytea) OPERATOR(pg_catalog.||) pg_catalog.sha256(
                CAST(%(ipad)s AS pg_catalog.bytea) OPERATOR(pg_catalog.||) pg_catalog.convert_to(
                    head_hash || E'\\n[' || CAST(head_seq + 1 AS TEXT) || ','
                        || CAST(%(tail)s AS TEXT),
                    'UTF8'))), 'hex')
    FROM head
    RETURNING seq, prev_hash, row_hash
), moved AS (
    UPDATE ledger_chain SET head_seq = sealed.seq, head_hash = sealed.row_hash
    FROM sealed WHERE ledger_chain.id = 1
    RETURNING 1
), balanced AS (
    UPDATE ledger_accounts SET
        debits_posted = debits_posted + CASE
            WHEN ledger_accounts.id = CAST(%(debit_account_id)s AS INTEGER)
            THEN CAST(%(amount)s AS BIGINT) ELSE 0 END,
        credits_posted = credits_posted + CASE
            WHEN ledger_accounts.id = CAST(%(credit_account_id)s AS INTEGER)
            THEN CAST(%(amount)s AS BIGINT) ELSE 0 END
    FROM sealed
    WHERE ledger_accounts.id IN (
        CAST(%(debit_account_id)s AS INTEGER), CAST(%(credit_account_id)s AS INTEGER))
    RETURNING 1
)
SELECT seq, prev_hash, row_hash, (SELECT count(*) FROM moved) AS moved,
    (SELECT count(*) FROM balanced) AS balanced
FROM sealed
"""
_POST_AT_ONCE_SQL = _POST_AT_ONCE_TEMPLATE.format(
    accounts=_PAIR_ACCOUNTS.format(**_PG_MARKERS), rules=_PAIR_RULES.format(**_PG_MARKERS)
)

#: ``_POST_AT_ONCE_SQL``'s checks on SQLite, run inside BEGIN IMMEDIATE (the database's
#: one write lock, so nothing changes under it): the chain head when every rule holds,
#: no row otherwise. The row, the chain head and the balances are then written.
_POST_CHECK_TEMPLATE_SQLITE = """
WITH pair AS (
    {accounts}
)
SELECT head_seq, head_hash
FROM ledger_chain, pair AS d, pair AS c
WHERE ledger_chain.id = 1
    AND {rules}
"""
_POST_CHECK_SQLITE = _POST_CHECK_TEMPLATE_SQLITE.format(
    accounts=_PAIR_ACCOUNTS.format(**_SQLITE_MARKERS),
    rules=_PAIR_RULES.format(**_SQLITE_MARKERS),
)
_MOVE_CHAIN_SQLITE = "UPDATE ledger_chain SET head_seq = ?, head_hash = ? WHERE id = 1"
_POST_BALANCES_SQLITE = """
UPDATE ledger_accounts SET
    debits_posted = debits_posted + CASE WHEN id = :debit_account_id THEN :amount ELSE 0 END,
    credits_posted = credits_posted + CASE WHEN id = :credit_account_id THEN :amount ELSE 0 END
WHERE id IN (:debit_account_id, :credit_account_id)
"""

#: The advisory lock posted debits queue on before they lock their rows: every one of
#: them locks the chain head, so they run one at a time whatever the lock; queueing on
#: it spares each waiter the wake-up to re-read rows that changed while it waited (the
#: posted-debit rate at 4 and 16 clients rose by about half: docs/performance.md).
CHAIN_QUEUE = 0x706F7374726F6F6D  # "postroom"

#: Lock the chain head for a batch. An id a twin took meanwhile is refused by the
#: unique index (or the failures trigger) when the rows go in: the transaction rolls
#: back, and the rerun's pre-check sees the twin and answers with its rows.
_LOCK_CHAIN_PG = sa.text("SELECT head_seq, head_hash FROM ledger_chain WHERE id = 1 FOR UPDATE")

#: After a batch's rows are copied in: the chain head and the balances, in one statement.
_MOVE_BATCH_PG = sa.text(
    """
WITH moved AS (
    UPDATE ledger_chain SET head_seq = CAST(:head_seq AS BIGINT),
        head_hash = CAST(:head_hash AS VARCHAR)
    WHERE id = 1
    RETURNING 1
), balanced AS (
    UPDATE ledger_accounts SET debits_pending = v.dp, debits_posted = v.dd,
        credits_pending = v.cp, credits_posted = v.cc
    FROM unnest(CAST(:account_ids AS INTEGER[]), CAST(:dp AS BIGINT[]), CAST(:dd AS BIGINT[]),
        CAST(:cp AS BIGINT[]), CAST(:cc AS BIGINT[])) AS v(id, dp, dd, cp, cc)
    WHERE ledger_accounts.id = v.id
    RETURNING 1
)
SELECT (SELECT count(*) FROM moved) AS moved, (SELECT count(*) FROM balanced) AS balanced
"""
)

#: A row's columns in the table's order, as ``_row_values`` gives them.
_ROW_COLUMNS = tuple(column.name for column in ledger_transfers.columns)
_INSERT_ROWS_SQLITE = str(sa.insert(ledger_transfers).compile(dialect=sqlite_dialect()))
_DATETIME = ledger_transfers.c.created_at.type
_TO_SQLITE_TEXT = _DATETIME.dialect_impl(sqlite_dialect()).bind_processor(sqlite_dialect())


def _sqlite_time(moment: datetime | None) -> object:
    """A time as SQLAlchemy stores it in SQLite (for rows written by the driver)."""
    return moment if moment is None or _TO_SQLITE_TEXT is None else _TO_SQLITE_TEXT(moment)


_MOVE_CHAIN = (
    sa.update(ledger_chain)
    .where(ledger_chain.c.id == 1)
    .values(head_seq=sa.bindparam("head_seq"), head_hash=sa.bindparam("head_hash"))
)
_SAVE_BALANCES = (
    sa.update(ledger_accounts)
    .where(ledger_accounts.c.id == sa.bindparam("account_id"))
    .values(
        debits_pending=sa.bindparam("dp"),
        debits_posted=sa.bindparam("dd"),
        credits_pending=sa.bindparam("cp"),
        credits_posted=sa.bindparam("cc"),
    )
)
_SAVE_REGISTERS = (
    sa.update(meter_registers)
    .where(meter_registers.c.account_id == sa.bindparam("meter_id"))
    .values(
        descending=sa.bindparam("descending"),
        ascending=sa.bindparam("ascending"),
        control_sum=sa.bindparam("control_sum"),
        pieces=sa.bindparam("pieces"),
    )
)
_METERS_OF = sa.select(meter_registers).where(
    meter_registers.c.account_id.in_(sa.bindparam("ids", expanding=True))
)


@attrs.frozen
class LockedAccounts:
    """What ``lock_for_transfers`` found: the locked accounts by id, the codes asked for
    by id, and whether one of the transfer ids was seen before (a transfer or a failure)."""

    accounts: dict[int, LedgerAccount]
    ids_by_code: dict[str, int]
    seen: bool


def account_from_row(row: Row[tuple[object, ...]]) -> LedgerAccount:
    m = row._mapping
    return LedgerAccount(
        id=int(m["id"]),
        code=str(m["code"]),
        kind=AccountKind(m["kind"]),
        currency=str(m["currency"]),
        owner_id=None if m["owner_id"] is None else int(m["owner_id"]),
        credit_limit=int(m["credit_limit"]),
        debits_must_not_exceed_credits=bool(m["debits_must_not_exceed_credits"]),
        credits_must_not_exceed_debits=bool(m["credits_must_not_exceed_debits"]),
        balances=Balances(*(int(m[name]) for name in _BALANCE_COLUMNS)),
        created_at=utc(m["created_at"]),
    )


def transfer_from_row(row: Row[tuple[object, ...]]) -> Transfer:
    m = row._mapping
    return Transfer(
        seq=int(m["seq"]),
        id=str(m["id"]),
        debit_account_id=int(m["debit_account_id"]),
        credit_account_id=int(m["credit_account_id"]),
        amount=int(m["amount"]),
        currency=str(m["currency"]),
        phase=Phase(m["phase"]),
        code=TransferCode(m["code"]),
        pending_id=m["pending_id"],
        timeout_at=None if m["timeout_at"] is None else utc(m["timeout_at"]),
        batch=m["batch"],
        pieces=int(m["pieces"]),
        reference=str(m["reference"]),
        cost_center=m["cost_center"],
        body_hash=str(m["body_hash"]),
        created_at=utc(m["created_at"]),
        prev_hash=str(m["prev_hash"]),
        row_hash=str(m["row_hash"]),
    )


def registers_from_row(row: Row[tuple[object, ...]]) -> MeterRegisters:
    m = row._mapping
    return MeterRegisters(
        account_id=int(m["account_id"]),
        serial=str(m["serial"]),
        customer_account_id=int(m["customer_account_id"]),
        operator=str(m["operator"]),
        currency=str(m["currency"]),
        status=str(m["status"]),
        descending=int(m["descending"]),
        ascending=int(m["ascending"]),
        control_sum=int(m["control_sum"]),
        pieces=int(m["pieces"]),
    )


class LedgerRepository(Protocol):
    """What the ledger's use cases read and write inside one unit of work: ``LedgerStore``
    on the database, an in-memory fake in the unit tests. Appending rows is the only way
    to add a transfer; nothing changes or deletes one."""

    def read_one_snapshot(self) -> None:
        """Read every later statement of this unit of work from one snapshot (called
        first, by a read-only unit of work that reads the whole ledger)."""

    # accounts
    def add_account(
        self,
        code: str,
        kind: AccountKind,
        currency: str,
        owner_id: int | None,
        credit_limit: int,
        debits_must_not_exceed_credits: bool,
        credits_must_not_exceed_debits: bool,
        now: datetime,
    ) -> LedgerAccount: ...
    def account_by_code(self, code: str) -> LedgerAccount | None: ...
    def lock_accounts(self, ids: Iterable[int]) -> dict[int, LedgerAccount]: ...
    def accounts(self, *, owner_id: int | None = None) -> list[LedgerAccount]: ...
    def codes_by_id(self, ids: Iterable[int]) -> dict[int, str]: ...
    def owner_of(self, account_id: int) -> int | None: ...

    # transfers
    def ids_seen(self, ids: Iterable[str]) -> bool: ...
    def transfers_by_id(self, ids: Iterable[str]) -> dict[str, Transfer]: ...
    def resolutions_of(self, pending_ids: Iterable[str]) -> dict[str, Transfer]: ...
    def expired_pending(self, now: datetime, limit: int) -> list[Transfer]: ...
    def all_transfers(self) -> Iterable[Transfer]: ...
    def transfers_of(self, account_id: int, limit: int) -> list[Transfer]: ...
    def transfers_touching(
        self,
        account_ids: Iterable[int],
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        codes: Iterable[TransferCode] | None = None,
        phases: Iterable[Phase] | None = None,
        limit: int | None = None,
        offset: int = 0,
        newest_first: bool = False,
    ) -> list[Transfer]: ...
    def usage_covering(self, meter_account_id: int, piece: int) -> Transfer | None: ...
    def chain_head(self) -> tuple[int, str]: ...

    # the transfer path
    def lock_for_transfers(
        self, account_ids: Iterable[int], codes: Iterable[str], transfer_ids: Sequence[str]
    ) -> LockedAccounts: ...
    def append_transfers(
        self, rows: Sequence[Transfer], balances: Mapping[int, Balances], key: ChainKey
    ) -> list[Transfer] | None: ...
    def failures_by_id(self, ids: Iterable[str]) -> dict[str, tuple[str, str, str]]: ...
    def add_failure(
        self, id: str, body_hash: str, code: str, message: str, now: datetime
    ) -> None: ...

    # the seal
    def seal(self) -> ChainSeal | None: ...
    def record_seal_mac(self, seal: ChainSeal, mac: str) -> bool: ...

    # meters' registers
    def add_meter(self, registers: MeterRegisters) -> None: ...
    def meter_by_serial(self, serial: str) -> MeterRegisters | None: ...
    def meters_for_accounts(self, account_ids: Iterable[int]) -> dict[int, MeterRegisters]: ...
    def all_meters(self) -> list[MeterRegisters]: ...
    def save_all_registers(self, registers: Iterable[MeterRegisters]) -> None: ...
    def set_meter_status(self, account_id: int, status: str) -> None: ...
    def withdrawn_serials(self) -> list[str]: ...


class LedgerStorage(Protocol):
    """Where the ledger keeps its rows: its repository in a unit of work, and the
    one-statement posted transfer (None: not applied, the general path answers)."""

    def repository(self, uow: UnitOfWork) -> LedgerRepository: ...

    def post_at_once(
        self, row: Transfer, debit_code: str | None, credit_code: str | None, key: ChainKey
    ) -> Transfer | None: ...


@attrs.frozen
class SqlLedgerStorage:
    """The ledger on the database: ``LedgerStore`` and ``post_at_once``."""

    db: Database

    def repository(self, uow: UnitOfWork) -> LedgerRepository:
        return LedgerStore(uow.connection)

    def post_at_once(
        self, row: Transfer, debit_code: str | None, credit_code: str | None, key: ChainKey
    ) -> Transfer | None:
        return post_at_once(self.db, row, debit_code, credit_code, key)


# A customer's own accounts: read by every dashboard and most customer requests, so
# built once (its cache key too).
_ACCOUNTS_OF_OWNER = (
    sa.select(ledger_accounts)
    .where(ledger_accounts.c.owner_id == sa.bindparam("owner_id"))
    .order_by(ledger_accounts.c.id)
)


@functools.cache
def _transfers_touching(
    since: bool,
    until: bool,
    codes: bool,
    phases: bool,
    limit: bool,
    offset: bool,
    newest_first: bool,
) -> sa.Select[Any]:
    """``LedgerStore.transfers_touching``'s statement for the filters given, built once
    per combination (the account ids, codes and phases are expanded on execution)."""
    t = ledger_transfers.c
    ids: sa.BindParameter[list[int]] = sa.bindparam("ids", expanding=True)
    query = sa.select(ledger_transfers).where(
        sa.or_(t.debit_account_id.in_(ids), t.credit_account_id.in_(ids))
    )
    if since:
        query = query.where(t.created_at >= sa.bindparam("since"))
    if until:
        query = query.where(t.created_at < sa.bindparam("until"))
    if codes:
        query = query.where(t.code.in_(sa.bindparam("codes", expanding=True)))
    if phases:
        query = query.where(t.phase.in_(sa.bindparam("phases", expanding=True)))
    query = query.order_by(t.seq.desc() if newest_first else t.seq)
    if limit:
        query = query.limit(sa.bindparam("limit"))
    if offset:
        query = query.offset(sa.bindparam("offset"))
    return query


class LedgerStore:
    """Repository of the ledger on the unit of work's connection (``LedgerRepository``)."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection
        self._postgres = connection.dialect.name == "postgresql"

    def read_one_snapshot(self) -> None:
        if self._postgres:
            self._c.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")

    # accounts -------------------------------------------------------------

    def add_account(
        self,
        code: str,
        kind: AccountKind,
        currency: str,
        owner_id: int | None,
        credit_limit: int,
        debits_must_not_exceed_credits: bool,
        credits_must_not_exceed_debits: bool,
        now: datetime,
    ) -> LedgerAccount:
        row = self._c.execute(
            sa.insert(ledger_accounts)
            .values(
                code=code,
                kind=kind.value,
                currency=currency,
                owner_id=owner_id,
                credit_limit=credit_limit,
                debits_must_not_exceed_credits=debits_must_not_exceed_credits,
                credits_must_not_exceed_debits=credits_must_not_exceed_debits,
                debits_pending=0,
                debits_posted=0,
                credits_pending=0,
                credits_posted=0,
                created_at=now,
            )
            .returning(*ledger_accounts.c)
        ).one()
        return account_from_row(row)

    def account_by_code(self, code: str) -> LedgerAccount | None:
        row = self._c.execute(
            sa.select(ledger_accounts).where(ledger_accounts.c.code == code)
        ).first()
        return None if row is None else account_from_row(row)

    def lock_accounts(self, ids: Iterable[int]) -> dict[int, LedgerAccount]:
        """Read and lock the accounts, always in ascending id order (no deadlock cycles).

        On PostgreSQL this is SELECT ... FOR UPDATE; SQLite's BEGIN IMMEDIATE already
        holds the only write lock.
        """
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        query = (
            sa.select(ledger_accounts)
            .where(ledger_accounts.c.id.in_(wanted))
            .order_by(ledger_accounts.c.id)
        )
        if self._postgres:
            query = query.with_for_update()
        return {account.id: account for account in map(account_from_row, self._c.execute(query))}

    def accounts(self, *, owner_id: int | None = None) -> list[LedgerAccount]:
        if owner_id is not None:
            rows = self._c.execute(_ACCOUNTS_OF_OWNER, {"owner_id": owner_id})
        else:
            rows = self._c.execute(sa.select(ledger_accounts).order_by(ledger_accounts.c.id))
        return [account_from_row(row) for row in rows]

    # transfers ------------------------------------------------------------

    def ids_seen(self, ids: Iterable[str]) -> bool:
        """Whether any of ``ids`` is a transfer or a remembered failure (one round trip)."""
        wanted = sorted(set(ids))
        query = sa.union_all(
            sa.select(ledger_transfers.c.id).where(ledger_transfers.c.id.in_(wanted)),
            sa.select(ledger_failures.c.id).where(ledger_failures.c.id.in_(wanted)),
        ).limit(1)
        return self._c.execute(query).first() is not None

    def transfers_by_id(self, ids: Iterable[str]) -> dict[str, Transfer]:
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        rows = self._c.execute(sa.select(ledger_transfers).where(ledger_transfers.c.id.in_(wanted)))
        return {t.id: t for t in map(transfer_from_row, rows)}

    def resolutions_of(self, pending_ids: Iterable[str]) -> dict[str, Transfer]:
        wanted = sorted(set(pending_ids))
        if not wanted:
            return {}
        rows = self._c.execute(
            sa.select(ledger_transfers).where(ledger_transfers.c.pending_id.in_(wanted))
        )
        return {str(t.pending_id): t for t in map(transfer_from_row, rows)}

    def expired_pending(self, now: datetime, limit: int) -> list[Transfer]:
        resolved = sa.select(ledger_transfers.c.pending_id).where(
            ledger_transfers.c.pending_id.is_not(None)
        )
        rows = self._c.execute(
            sa.select(ledger_transfers)
            .where(
                ledger_transfers.c.phase == Phase.PENDING.value,
                ledger_transfers.c.timeout_at.is_not(None),
                ledger_transfers.c.timeout_at <= now,
                ledger_transfers.c.id.not_in(resolved),
            )
            .order_by(ledger_transfers.c.seq)
            .limit(limit)
        )
        return [transfer_from_row(row) for row in rows]

    def all_transfers(self, batch_size: int = 5000) -> Iterable[Transfer]:
        """Every row in chain order, read in pages."""
        after = 0
        while True:
            rows = self._c.execute(
                sa.select(ledger_transfers)
                .where(ledger_transfers.c.seq > after)
                .order_by(ledger_transfers.c.seq)
                .limit(batch_size)
            ).all()
            if not rows:
                return
            for row in rows:
                transfer = transfer_from_row(row)
                after = transfer.seq
                yield transfer

    def transfers_of(self, account_id: int, limit: int) -> list[Transfer]:
        rows = self._c.execute(
            sa.select(ledger_transfers)
            .where(
                sa.or_(
                    ledger_transfers.c.debit_account_id == account_id,
                    ledger_transfers.c.credit_account_id == account_id,
                )
            )
            .order_by(ledger_transfers.c.seq.desc())
            .limit(limit)
        )
        return [transfer_from_row(row) for row in rows]

    def transfers_touching(
        self,
        account_ids: Iterable[int],
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        codes: Iterable[TransferCode] | None = None,
        phases: Iterable[Phase] | None = None,
        limit: int | None = None,
        offset: int = 0,
        newest_first: bool = False,
    ) -> list[Transfer]:
        """Transfers debiting or crediting one of ``account_ids``, filtered; ``since`` is
        inclusive, ``until`` exclusive."""
        wanted = sorted(set(account_ids))
        if not wanted:
            return []
        values: dict[str, Any] = {"ids": wanted}
        if since is not None:
            values["since"] = since
        if until is not None:
            values["until"] = until
        if codes is not None:
            values["codes"] = sorted(c.value for c in codes)
        if phases is not None:
            values["phases"] = sorted(p.value for p in phases)
        if limit is not None:
            values["limit"] = limit
        if offset:
            values["offset"] = offset
        query = _transfers_touching(
            since is not None,
            until is not None,
            codes is not None,
            phases is not None,
            limit is not None,
            bool(offset),
            newest_first,
        )
        return [transfer_from_row(row) for row in self._c.execute(query, values)]

    def codes_by_id(self, ids: Iterable[int]) -> dict[int, str]:
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        rows = self._c.execute(
            sa.select(ledger_accounts.c.id, ledger_accounts.c.code).where(
                ledger_accounts.c.id.in_(wanted)
            )
        )
        return {int(row.id): str(row.code) for row in rows}

    def lock_chain(self) -> tuple[int, str]:
        query = sa.select(ledger_chain).where(ledger_chain.c.id == 1)
        if self._postgres:
            query = query.with_for_update()
        row = self._c.execute(query).first()
        if row is None:
            self._c.execute(
                sa.insert(ledger_chain).values(id=1, head_seq=0, head_hash=GENESIS_HASH)
            )
            return 0, GENESIS_HASH
        return int(row.head_seq), str(row.head_hash)

    def chain_head(self) -> tuple[int, str]:
        row = self._c.execute(sa.select(ledger_chain).where(ledger_chain.c.id == 1)).first()
        return (0, GENESIS_HASH) if row is None else (int(row.head_seq), str(row.head_hash))

    # the transfer path (every statement built once, above) -----------------

    def lock_for_transfers(
        self, account_ids: Iterable[int], codes: Iterable[str], transfer_ids: Sequence[str]
    ) -> LockedAccounts:
        """Read and lock the accounts named by id or code, in ascending id order, and
        tell whether one of ``transfer_ids`` was seen before: one statement.

        On PostgreSQL that pre-check reads the snapshot taken before the locks were
        granted; ``append_transfers`` checks again after them.
        """
        params = {
            "account_ids": sorted(set(account_ids)),
            "codes": sorted(set(codes)),
            "ids": list(transfer_ids),
        }
        rows = self._c.execute(
            _LOCK_FOR_TRANSFER_PG if self._postgres else _LOCK_FOR_TRANSFER_SQLITE, params
        ).all()
        accounts = {account.id: account for account in map(account_from_row, rows)}
        return LockedAccounts(
            accounts,
            {a.code: a.id for a in accounts.values()},
            any(bool(row.seen) for row in rows),
        )

    def append_transfers(
        self, rows: Sequence[Transfer], balances: Mapping[int, Balances], key: ChainKey
    ) -> list[Transfer] | None:
        """Seal ``rows`` onto the hash chain under ``key``, insert them, move the chain
        head and write the accounts' new ``balances``, with the accounts locked by the
        caller.

        None, with nothing written, when the one row's id was taken meanwhile (a twin
        request that committed while this one waited for the locks). A batch whose id
        was taken meanwhile raises IntegrityError instead (the unique index refuses it).
        """
        if self._postgres:
            if len(rows) == 1:
                sealed = self._append_one_pg(rows[0], balances, key)
                if sealed is not None or self._c.execute(_CHAIN_ROW).first() is not None:
                    return sealed
                self._genesis()  # an emptied ledger: start the chain, then append
                return self._append_one_pg(rows[0], balances, key)
            return self._append_many_pg(rows, balances, key)
        head_seq, head_hash = self.lock_chain()
        sealed = _seal(rows, head_seq, head_hash, key)
        self._insert_rows_sqlite(sealed)
        self._c.execute(_MOVE_CHAIN, {"head_seq": sealed[-1].seq, "head_hash": sealed[-1].row_hash})
        if balances:
            self._c.execute(
                _SAVE_BALANCES,
                [
                    {
                        "account_id": i,
                        "dp": b.debits_pending,
                        "dd": b.debits_posted,
                        "cp": b.credits_pending,
                        "cc": b.credits_posted,
                    }
                    for i, b in sorted(balances.items())
                ],
            )
        return sealed

    def _insert_rows_sqlite(self, rows: Sequence[Transfer]) -> None:
        """Insert sealed rows with the driver's own executemany: SQLAlchemy would build
        each row's parameters anew (a mail run inserts a piece per row), and the rows of
        a batch share their timestamp, converted here once as SQLAlchemy stores it."""
        stored: dict[datetime, object] = {}

        def stamp(moment: datetime | None) -> object:
            if moment is None:
                return moment
            found = stored.get(moment)
            if found is None:
                found = stored[moment] = _sqlite_time(moment)
            return found

        self._c.exec_driver_sql(_INSERT_ROWS_SQLITE, [_row_values(t, stamp) for t in rows])

    def _append_one_pg(
        self, row: Transfer, balances: Mapping[int, Balances], key: ChainKey
    ) -> list[Transfer] | None:
        tail = row.canonical_tail()
        params = _transfer_values(row)
        params["tail"] = tail.decode("ascii")
        params["ipad"], params["opad"] = key.pads
        params.update(_balance_arrays(balances))
        found = self._c.execute(_APPEND_ONE_PG, params).first()
        if found is None:
            return None
        seq, prev_hash, row_hash = int(found.seq), str(found.prev_hash), str(found.row_hash)
        # The server hashed the row: check it against this code's hash before the commit.
        if row_hash != key.row_hash(prev_hash, seq, tail) or (found.moved, found.balanced) != (
            1,
            len(balances),
        ):
            raise LedgerInvariantBroken(f"row {seq} ({row.id}) was not appended as sealed")
        return [attrs.evolve(row, seq=seq, prev_hash=prev_hash, row_hash=row_hash)]

    def _append_many_pg(
        self, rows: Sequence[Transfer], balances: Mapping[int, Balances], key: ChainKey
    ) -> list[Transfer]:
        head = self._c.execute(_LOCK_CHAIN_PG).first()
        if head is None:
            self._genesis()
            head = self._c.execute(_LOCK_CHAIN_PG).first()
            assert head is not None
        sealed = _seal(rows, int(head.head_seq), str(head.head_hash), key)
        # COPY: the server's bulk path, and the driver writes each row without SQL to parse.
        copied = copy_rows(self._c, "ledger_transfers", _ROW_COLUMNS, map(_row_values, sealed))
        params: dict[str, object] = {"head_seq": sealed[-1].seq, "head_hash": sealed[-1].row_hash}
        params.update(_balance_arrays(balances))
        counts = self._c.execute(_MOVE_BATCH_PG, params).one()
        if (copied, counts.moved, counts.balanced) != (len(sealed), 1, len(balances)):
            raise LedgerInvariantBroken(f"a batch of {len(sealed)} rows was not appended whole")
        return sealed

    def _genesis(self) -> None:
        self._c.execute(sa.insert(ledger_chain).values(id=1, head_seq=0, head_hash=GENESIS_HASH))

    # the seal (where the keyed chain begins) ------------------------------

    def seal(self) -> ChainSeal | None:
        row = self._c.execute(sa.select(ledger_seal).where(ledger_seal.c.id == 1)).first()
        if row is None:
            return None
        return ChainSeal(int(row.seq), str(row.row_hash), row.mac)

    def record_seal_mac(self, seal: ChainSeal, mac: str) -> bool:
        """Seal the boundary ``seal`` describes, if it is still unsealed and unchanged."""
        result = self._c.execute(
            sa.update(ledger_seal)
            .where(
                ledger_seal.c.id == 1,
                ledger_seal.c.seq == seal.seq,
                ledger_seal.c.row_hash == seal.row_hash,
                ledger_seal.c.mac.is_(None),
            )
            .values(mac=mac)
        )
        return result.rowcount == 1

    def save_all_registers(self, registers: Iterable[MeterRegisters]) -> None:
        values = [
            {
                "meter_id": r.account_id,
                "descending": r.descending,
                "ascending": r.ascending,
                "control_sum": r.control_sum,
                "pieces": r.pieces,
            }
            for r in registers
        ]
        if values:
            self._c.execute(_SAVE_REGISTERS, values)

    # failures -------------------------------------------------------------

    def failures_by_id(self, ids: Iterable[str]) -> dict[str, tuple[str, str, str]]:
        """id -> (body_hash, code, message)."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        rows = self._c.execute(sa.select(ledger_failures).where(ledger_failures.c.id.in_(wanted)))
        return {str(r.id): (str(r.body_hash), str(r.code), str(r.message)) for r in rows}

    def add_failure(self, id: str, body_hash: str, code: str, message: str, now: datetime) -> None:
        self._c.execute(
            sa.insert(ledger_failures).values(
                id=id, body_hash=body_hash, code=code, message=message[:300], created_at=now
            )
        )

    # meters ---------------------------------------------------------------

    def add_meter(self, registers: MeterRegisters) -> None:
        self._c.execute(
            sa.insert(meter_registers).values(
                account_id=registers.account_id,
                serial=registers.serial,
                customer_account_id=registers.customer_account_id,
                operator=registers.operator,
                currency=registers.currency,
                status=registers.status,
                descending=registers.descending,
                ascending=registers.ascending,
                control_sum=registers.control_sum,
                pieces=registers.pieces,
            )
        )

    def meter_by_serial(self, serial: str) -> MeterRegisters | None:
        row = self._c.execute(
            sa.select(meter_registers).where(meter_registers.c.serial == serial)
        ).first()
        return None if row is None else registers_from_row(row)

    def meters_for_accounts(self, account_ids: Iterable[int]) -> dict[int, MeterRegisters]:
        """The meter registers of those of ``account_ids`` that are meters."""
        wanted = sorted(set(account_ids))
        if not wanted:
            return {}
        rows = self._c.execute(_METERS_OF, {"ids": wanted})
        return {r.account_id: r for r in map(registers_from_row, rows)}

    def set_meter_status(self, account_id: int, status: str) -> None:
        self._c.execute(
            sa.update(meter_registers)
            .where(meter_registers.c.account_id == account_id)
            .values(status=status)
        )

    def usage_covering(self, meter_account_id: int, piece: int) -> Transfer | None:
        """The meter's usage report that counted ``piece`` (pieces are numbered 1, 2, …
        across the meter's usage reports, in ledger order)."""
        t = ledger_transfers
        running = (
            sa.select(
                t.c.seq,
                sa.func.sum(t.c.pieces).over(order_by=t.c.seq).label("upto"),
                t.c.pieces,
            )
            .where(
                t.c.debit_account_id == meter_account_id,
                t.c.code == TransferCode.USAGE.value,
                t.c.phase == Phase.POSTED.value,
                t.c.pieces > 0,
            )
            .subquery()
        )
        seq = self._c.execute(
            sa.select(running.c.seq)
            .where(running.c.upto >= piece, running.c.upto - running.c.pieces < piece)
            .limit(1)
        ).scalar()
        if seq is None:
            return None
        row = self._c.execute(sa.select(t).where(t.c.seq == seq)).one()
        return transfer_from_row(row)

    def owner_of(self, account_id: int) -> int | None:
        found = self._c.execute(
            sa.select(ledger_accounts.c.owner_id).where(ledger_accounts.c.id == account_id)
        ).scalar()
        return None if found is None else int(found)

    def withdrawn_serials(self) -> list[str]:
        rows = self._c.execute(
            sa.select(meter_registers.c.serial).where(meter_registers.c.status != "active")
        )
        return [str(row[0]) for row in rows]

    def all_meters(self) -> list[MeterRegisters]:
        rows = self._c.execute(sa.select(meter_registers).order_by(meter_registers.c.account_id))
        return [registers_from_row(row) for row in rows]


_CHAIN_ROW = sa.select(ledger_chain.c.id).where(ledger_chain.c.id == 1)


def _transfer_values(t: Transfer) -> dict[str, object]:
    """A row's values by column name, for the statements with named parameters."""
    return dict(zip(_ROW_COLUMNS, _row_values(t), strict=True))


def _row_values(
    t: Transfer, stamp: Callable[[datetime | None], object] = lambda moment: moment
) -> tuple[object, ...]:
    """A row's values in ``_ROW_COLUMNS`` order; ``stamp`` converts its times when the
    driver needs them converted."""
    return (
        t.seq,
        t.id,
        t.debit_account_id,
        t.credit_account_id,
        t.amount,
        t.currency,
        PHASE_TEXT[t.phase],
        CODE_TEXT[t.code],
        t.pending_id,
        stamp(t.timeout_at),
        t.batch,
        t.pieces,
        t.reference,
        t.cost_center,
        t.body_hash,
        stamp(t.created_at),
        t.prev_hash,
        t.row_hash,
    )


def _balance_arrays(balances: Mapping[int, Balances]) -> dict[str, list[int]]:
    ordered = sorted(balances.items())
    return {
        "account_ids": [i for i, _ in ordered],
        "dp": [b.debits_pending for _, b in ordered],
        "dd": [b.debits_posted for _, b in ordered],
        "cp": [b.credits_pending for _, b in ordered],
        "cc": [b.credits_posted for _, b in ordered],
    }


def _seal(rows: Sequence[Transfer], head_seq: int, head_hash: str, key: ChainKey) -> list[Transfer]:
    """``rows`` as the chain's next rows after (``head_seq``, ``head_hash``), keyed."""
    sealed = []
    for row in rows:
        head_seq += 1
        row = row.sealed(key, head_seq, head_hash)
        head_hash = row.row_hash
        sealed.append(row)
    return sealed


def post_at_once(
    db: Database, row: Transfer, debit_code: str | None, credit_code: str | None, key: ChainKey
) -> Transfer | None:
    """Apply ``row`` (a posted transfer, unsealed) in a transaction of its own, with
    ``_POST_AT_ONCE_SQL`` (PostgreSQL) or ``_POST_CHECK_SQLITE`` and three writes (SQLite):
    the sealed row, or None when a check failed and nothing was written.
    ``debit_code``/``credit_code``, when given, must still name those ids."""
    tail = row.canonical_tail()
    params = _transfer_values(row)
    params["tail"] = tail.decode("ascii")
    params["debit_code"] = debit_code
    params["credit_code"] = credit_code
    if db.dialect == "sqlite":
        return db.write_on_driver(
            lambda cursor: _post_at_once_sqlite(cursor, row, tail, params, key)
        )
    params["ipad"], params["opad"] = key.pads
    found = db.execute_alone(_POST_AT_ONCE_SQL, params, queue=CHAIN_QUEUE)
    if found is None:
        return None
    seq, prev_hash, row_hash, moved, balanced = found
    if row_hash != key.row_hash(prev_hash, seq, tail) or (moved, balanced) != (1, 2):
        raise LedgerInvariantBroken(f"row {seq} ({row.id}) was not appended as sealed")
    return row.with_place(int(seq), str(prev_hash), str(row_hash))


def _post_at_once_sqlite(
    cursor: Any, row: Transfer, tail: bytes, params: dict[str, object], key: ChainKey
) -> Transfer | None:
    """``post_at_once`` on SQLite, with the driver's cursor inside BEGIN IMMEDIATE."""
    found = cursor.execute(_POST_CHECK_SQLITE, params).fetchone()
    if found is None:
        return None
    head_seq, head_hash = found
    seq = int(head_seq) + 1
    sealed = row.with_place(seq, str(head_hash), key.row_hash(str(head_hash), seq, tail))
    cursor.execute(_INSERT_ROWS_SQLITE, _row_values(sealed, _sqlite_time))
    cursor.execute(_MOVE_CHAIN_SQLITE, (seq, sealed.row_hash))
    cursor.execute(_POST_BALANCES_SQLITE, params)
    if cursor.rowcount != 2:
        raise LedgerInvariantBroken(f"row {seq} ({row.id}) did not move both balances")
    return sealed
