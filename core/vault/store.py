"""Tables and repository of the vault (SQLAlchemy Core).

``ledger_transfers`` is append-only: this repository has no way to change or delete a
row, and the migration adds triggers that refuse UPDATE and DELETE in the database.
The account balance columns and the meter registers are a cache of what the transfers
say; ``VaultService.verify`` re-derives them from the rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from postroom.core.db import metadata
from postroom.core.money import Money
from postroom.core.vault.model import (
    GENESIS_HASH,
    AccountKind,
    Balances,
    LedgerAccount,
    MeterRegisters,
    Phase,
    Transfer,
    TransferCode,
    utc,
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


class LedgerStore:
    """Repository of the ledger on the unit of work's connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection
        self._postgres = connection.dialect.name == "postgresql"

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

    def account_ids_by_code(self, codes: Iterable[str]) -> dict[str, int]:
        wanted = sorted(set(codes))
        if not wanted:
            return {}
        rows = self._c.execute(
            sa.select(ledger_accounts.c.code, ledger_accounts.c.id).where(
                ledger_accounts.c.code.in_(wanted)
            )
        )
        return {str(row.code): int(row.id) for row in rows}

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
        query = sa.select(ledger_accounts).order_by(ledger_accounts.c.id)
        if owner_id is not None:
            query = query.where(ledger_accounts.c.owner_id == owner_id)
        return [account_from_row(row) for row in self._c.execute(query)]

    def save_balances(self, changed: dict[int, Balances]) -> None:
        """Write the new balances of several accounts in one executemany."""
        if not changed:
            return
        self._c.execute(
            sa.update(ledger_accounts)
            .where(ledger_accounts.c.id == sa.bindparam("account_id"))
            .values(
                debits_pending=sa.bindparam("dp"),
                debits_posted=sa.bindparam("dd"),
                credits_pending=sa.bindparam("cp"),
                credits_posted=sa.bindparam("cc"),
            ),
            [
                {
                    "account_id": account_id,
                    "dp": b.debits_pending,
                    "dd": b.debits_posted,
                    "cp": b.credits_pending,
                    "cc": b.credits_posted,
                }
                for account_id, b in sorted(changed.items())
            ],
        )

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
        t = ledger_transfers.c
        query = sa.select(ledger_transfers).where(
            sa.or_(t.debit_account_id.in_(wanted), t.credit_account_id.in_(wanted))
        )
        if since is not None:
            query = query.where(t.created_at >= since)
        if until is not None:
            query = query.where(t.created_at < until)
        if codes is not None:
            query = query.where(t.code.in_(sorted(c.value for c in codes)))
        if phases is not None:
            query = query.where(t.phase.in_(sorted(p.value for p in phases)))
        query = query.order_by(t.seq.desc() if newest_first else t.seq)
        if limit is not None:
            query = query.limit(limit)
        if offset:
            query = query.offset(offset)
        return [transfer_from_row(row) for row in self._c.execute(query)]

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

    def append(self, transfers: Sequence[Transfer]) -> None:
        """Insert sealed rows and move the chain head to the last one."""
        self._c.execute(
            sa.insert(ledger_transfers),
            [
                {
                    "seq": t.seq,
                    "id": t.id,
                    "debit_account_id": t.debit_account_id,
                    "credit_account_id": t.credit_account_id,
                    "amount": t.amount,
                    "currency": t.currency,
                    "phase": t.phase.value,
                    "code": t.code.value,
                    "pending_id": t.pending_id,
                    "timeout_at": t.timeout_at,
                    "batch": t.batch,
                    "pieces": t.pieces,
                    "reference": t.reference,
                    "cost_center": t.cost_center,
                    "body_hash": t.body_hash,
                    "created_at": t.created_at,
                    "prev_hash": t.prev_hash,
                    "row_hash": t.row_hash,
                }
                for t in transfers
            ],
        )
        last = transfers[-1]
        self._c.execute(
            sa.update(ledger_chain)
            .where(ledger_chain.c.id == 1)
            .values(head_seq=last.seq, head_hash=last.row_hash)
        )

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
        wanted = sorted(set(account_ids))
        if not wanted:
            return {}
        rows = self._c.execute(
            sa.select(meter_registers).where(meter_registers.c.account_id.in_(wanted))
        )
        return {r.account_id: r for r in map(registers_from_row, rows)}

    def set_meter_status(self, account_id: int, status: str) -> None:
        self._c.execute(
            sa.update(meter_registers)
            .where(meter_registers.c.account_id == account_id)
            .values(status=status)
        )

    def all_meters(self) -> list[MeterRegisters]:
        rows = self._c.execute(sa.select(meter_registers).order_by(meter_registers.c.account_id))
        return [registers_from_row(row) for row in rows]

    def save_registers(self, registers: MeterRegisters) -> None:
        self._c.execute(
            sa.update(meter_registers)
            .where(meter_registers.c.account_id == registers.account_id)
            .values(
                descending=registers.descending,
                ascending=registers.ascending,
                control_sum=registers.control_sum,
                pieces=registers.pieces,
            )
        )


reset_tokens = sa.Table(
    "reset_tokens",
    metadata,
    sa.Column("serial", sa.String(60), primary_key=True),
    sa.Column("sequence", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("transfer_id", sa.String(80), nullable=False, unique=True),
    sa.Column("amount", Mills, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
)


@attrs.frozen
class IssuedReset:
    """A row of ``reset_tokens``: a refill's reset token as the vault recorded it.

    The token bytes themselves are not stored: the service re-issues them from this row
    and the per-meter key (``postroom.core.meters.tokens``).
    """

    serial: str
    sequence: int
    transfer_id: str
    amount: Money
    expires_at: datetime
    applied_at: datetime | None = None


def reset_from_row(row: Row[tuple[object, ...]]) -> IssuedReset:
    m = row._mapping
    return IssuedReset(
        serial=str(m["serial"]),
        sequence=int(m["sequence"]),
        transfer_id=str(m["transfer_id"]),
        amount=Money(int(m["amount"]), str(m["currency"])),
        expires_at=utc(m["expires_at"]),
        applied_at=None if m["applied_at"] is None else utc(m["applied_at"]),
    )


class ResetTokenStore:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def by_transfer(self, transfer_id: str) -> IssuedReset | None:
        row = self._c.execute(
            sa.select(reset_tokens).where(reset_tokens.c.transfer_id == transfer_id)
        ).first()
        return None if row is None else reset_from_row(row)

    def for_meter(self, serial: str) -> list[IssuedReset]:
        """The meter's reset tokens by sequence; locked on PostgreSQL (applies serialise)."""
        query = (
            sa.select(reset_tokens)
            .where(reset_tokens.c.serial == serial)
            .order_by(reset_tokens.c.sequence)
        )
        if self._c.dialect.name == "postgresql":
            query = query.with_for_update()
        return [reset_from_row(row) for row in self._c.execute(query)]

    def next_sequence(self, serial: str) -> int:
        found = self._c.execute(
            sa.select(sa.func.max(reset_tokens.c.sequence)).where(reset_tokens.c.serial == serial)
        ).scalar()
        return 1 if found is None else int(found) + 1

    def add(self, token: IssuedReset, now: datetime) -> None:
        self._c.execute(
            sa.insert(reset_tokens).values(
                serial=token.serial,
                sequence=token.sequence,
                transfer_id=token.transfer_id,
                amount=token.amount.mills,
                currency=token.amount.currency,
                issued_at=now,
                expires_at=token.expires_at,
            )
        )

    def mark_applied(self, serial: str, sequence: int, now: datetime) -> bool:
        result = self._c.execute(
            sa.update(reset_tokens)
            .where(
                reset_tokens.c.serial == serial,
                reset_tokens.c.sequence == sequence,
                reset_tokens.c.applied_at.is_(None),
            )
            .values(applied_at=now)
        )
        return result.rowcount == 1
