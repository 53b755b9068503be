"""In-memory fakes of what the ledger's use cases stand on: its repository
(``LedgerRepository``), its storage (no one-statement fast path: the general path
answers every transfer), the customer accounts it asks about, and transactions that
roll back whatever a use case did not commit. No I/O.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import attrs

from postroom.core.accounts.closure import AccountClosure
from postroom.core.accounts.model import (
    AccountStatus,
    CustomerAccount,
    luhn_check_digit,
    parse_account_number,
)
from postroom.core.clock import FrozenClock
from postroom.core.errors import NotFound, ValidationError
from postroom.core.ledger.model import (
    GENESIS_HASH,
    AccountKind,
    Balances,
    ChainKey,
    ChainSeal,
    LedgerAccount,
    MeterRegisters,
    Phase,
    Transfer,
    TransferCode,
)
from postroom.core.ledger.service import LedgerService
from postroom.core.ledger.store import LedgerRepository, LockedAccounts

T = TypeVar("T")
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
KEY = ChainKey.from_text("the unit tests' ledger key, 32 characters or more")


class _Rollback:
    """A fake whose whole state a transaction saves and restores."""

    def snapshot(self) -> dict[str, Any]:
        return copy.deepcopy(vars(self))

    def restore(self, state: dict[str, Any]) -> None:
        vars(self).update(state)


class FakeCustomers(_Rollback):
    """The accounts area as the ledger asks it (``Customers``)."""

    def __init__(self) -> None:
        self.by_number: dict[str, CustomerAccount] = {}
        self.closures: dict[int, AccountClosure] = {}

    def add(self, name: str, currency: str = "USD") -> CustomerAccount:
        body = str(100_000_000 + len(self.by_number) + 1)
        customer = CustomerAccount(
            id=len(self.by_number) + 1,
            number=body + luhn_check_digit(body),
            name=name,
            country="US",
            currency=currency,
            status=AccountStatus.ACTIVE,
            created_at=START,
        )
        self.by_number[customer.number] = customer
        return customer

    def close(self, ledger_account_id: int, closure: AccountClosure) -> None:
        self.closures[ledger_account_id] = closure

    def customer_in(self, uow: object, customer_number: object) -> CustomerAccount:
        if not isinstance(customer_number, str):
            raise ValidationError(
                "a customer account number is text", code="invalid_account_number"
            )
        number = parse_account_number(customer_number)
        if number not in self.by_number:
            raise NotFound(f"no customer account {number}", code="account_not_found")
        return self.by_number[number]

    def is_closed_in(self, uow: object, ledger_account_id: int) -> bool:
        return ledger_account_id in self.closures

    def closure_in(self, uow: object, ledger_account_id: int) -> AccountClosure | None:
        return self.closures.get(ledger_account_id)


class FakeLedgerRepository(_Rollback):
    """The ledger's tables as lists and dicts (``LedgerRepository``)."""

    def __init__(self) -> None:
        self.rows: dict[int, LedgerAccount] = {}
        self.transfers: list[Transfer] = []
        self.failures: dict[str, tuple[str, str, str]] = {}
        self.meters: dict[int, MeterRegisters] = {}
        self.head: tuple[int, str] = (0, GENESIS_HASH)
        self.sealed: ChainSeal | None = None

    def _copy(self, account: LedgerAccount) -> LedgerAccount:
        return attrs.evolve(account)  # a read is a new object, as a row read back is

    def read_one_snapshot(self) -> None:
        pass  # one thread: every read sees the same state

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
    ) -> LedgerAccount:
        if any(a.code == code for a in self.rows.values()):
            raise AssertionError(f"unique index: account {code} exists")
        account = LedgerAccount(
            len(self.rows) + 1,
            code,
            kind,
            currency,
            owner_id,
            credit_limit,
            debits_must_not_exceed_credits,
            credits_must_not_exceed_debits,
            Balances(),
            now,
        )
        self.rows[account.id] = account
        return self._copy(account)

    def account_by_code(self, code: str) -> LedgerAccount | None:
        found = next((a for a in self.rows.values() if a.code == code), None)
        return None if found is None else self._copy(found)

    def lock_accounts(self, ids: Iterable[int]) -> dict[int, LedgerAccount]:
        return {i: self._copy(self.rows[i]) for i in sorted(set(ids)) if i in self.rows}

    def accounts(self, *, owner_id: int | None = None) -> list[LedgerAccount]:
        return [
            self._copy(a)
            for a in sorted(self.rows.values(), key=lambda a: a.id)
            if owner_id is None or a.owner_id == owner_id
        ]

    def codes_by_id(self, ids: Iterable[int]) -> dict[int, str]:
        return {i: self.rows[i].code for i in set(ids) if i in self.rows}

    def owner_of(self, account_id: int) -> int | None:
        account = self.rows.get(account_id)
        return None if account is None else account.owner_id

    # transfers
    def ids_seen(self, ids: Iterable[str]) -> bool:
        wanted = set(ids)
        return any(t.id in wanted for t in self.transfers) or bool(wanted & set(self.failures))

    def transfers_by_id(self, ids: Iterable[str]) -> dict[str, Transfer]:
        wanted = set(ids)
        return {t.id: t for t in self.transfers if t.id in wanted}

    def resolutions_of(self, pending_ids: Iterable[str]) -> dict[str, Transfer]:
        wanted = set(pending_ids)
        return {str(t.pending_id): t for t in self.transfers if t.pending_id in wanted}

    def expired_pending(self, now: datetime, limit: int) -> list[Transfer]:
        resolved = {t.pending_id for t in self.transfers if t.pending_id is not None}
        return [
            t
            for t in self.transfers
            if t.phase is Phase.PENDING
            and t.timeout_at is not None
            and t.timeout_at <= now
            and t.id not in resolved
        ][:limit]

    def all_transfers(self) -> Iterable[Transfer]:
        return list(self.transfers)

    def transfers_of(self, account_id: int, limit: int) -> list[Transfer]:
        mine = [
            t for t in self.transfers if account_id in (t.debit_account_id, t.credit_account_id)
        ]
        return mine[::-1][:limit]

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
        wanted = set(account_ids)
        kept_codes = None if codes is None else set(codes)
        kept_phases = None if phases is None else set(phases)
        found = [
            t
            for t in self.transfers
            if {t.debit_account_id, t.credit_account_id} & wanted
            and (since is None or t.created_at >= since)
            and (until is None or t.created_at < until)
            and (kept_codes is None or t.code in kept_codes)
            and (kept_phases is None or t.phase in kept_phases)
        ]
        if newest_first:
            found.reverse()
        found = found[offset:]
        return found if limit is None else found[:limit]

    def usage_covering(self, meter_account_id: int, piece: int) -> Transfer | None:
        upto = 0
        for t in self.transfers:
            if (
                t.debit_account_id == meter_account_id
                and t.code is TransferCode.USAGE
                and t.phase is Phase.POSTED
                and t.pieces > 0
            ):
                upto += t.pieces
                if upto >= piece > upto - t.pieces:
                    return t
        return None

    def chain_head(self) -> tuple[int, str]:
        return self.head

    # the transfer path
    def lock_for_transfers(
        self, account_ids: Iterable[int], codes: Iterable[str], transfer_ids: Sequence[str]
    ) -> LockedAccounts:
        ids, named = set(account_ids), set(codes)
        accounts = {
            i: self._copy(a) for i, a in sorted(self.rows.items()) if i in ids or a.code in named
        }
        return LockedAccounts(
            accounts,
            {a.code: i for i, a in accounts.items()},
            self.ids_seen(transfer_ids),
        )

    def append_transfers(
        self, rows: Sequence[Transfer], balances: Mapping[int, Balances], key: ChainKey
    ) -> list[Transfer] | None:
        if self.ids_seen(r.id for r in rows):
            return None
        seq, prev_hash = self.head
        sealed = []
        for row in rows:
            seq += 1
            row = row.sealed(key, seq, prev_hash)
            prev_hash = row.row_hash
            sealed.append(row)
        self.transfers.extend(sealed)
        self.head = (seq, prev_hash)
        for i, b in balances.items():
            self.rows[i] = attrs.evolve(self.rows[i], balances=b)
        return sealed

    def failures_by_id(self, ids: Iterable[str]) -> dict[str, tuple[str, str, str]]:
        return {i: self.failures[i] for i in set(ids) if i in self.failures}

    def add_failure(self, id: str, body_hash: str, code: str, message: str, now: datetime) -> None:
        assert id not in self.failures, "primary key"
        self.failures[id] = (body_hash, code, message[:300])

    # the seal
    def seal(self) -> ChainSeal | None:
        return self.sealed

    def record_seal_mac(self, seal: ChainSeal, mac: str) -> bool:
        if self.sealed != seal or seal.mac is not None:
            return False
        self.sealed = attrs.evolve(seal, mac=mac)
        return True

    # meters' registers
    def add_meter(self, registers: MeterRegisters) -> None:
        self.meters[registers.account_id] = registers

    def meter_by_serial(self, serial: str) -> MeterRegisters | None:
        return next((m for m in self.meters.values() if m.serial == serial), None)

    def meters_for_accounts(self, account_ids: Iterable[int]) -> dict[int, MeterRegisters]:
        return {i: self.meters[i] for i in set(account_ids) if i in self.meters}

    def all_meters(self) -> list[MeterRegisters]:
        return [self.meters[i] for i in sorted(self.meters)]

    def save_all_registers(self, registers: Iterable[MeterRegisters]) -> None:
        for r in registers:
            # the registers only: status is not the posting engine's to write
            self.meters[r.account_id] = attrs.evolve(r, status=self.meters[r.account_id].status)

    def set_meter_status(self, account_id: int, status: str) -> None:
        self.meters[account_id] = attrs.evolve(self.meters[account_id], status=status)

    def withdrawn_serials(self) -> list[str]:
        return [m.serial for m in self.meters.values() if m.status != "active"]


class FakeUnitOfWork:
    """One transaction over the fakes: what is not committed is undone at its end."""

    dialect = "fake"

    def __init__(self, transactions: FakeTransactions, readonly: bool) -> None:
        self._transactions = transactions
        self.readonly = readonly
        self.saved = transactions.snapshot()

    @property
    def connection(self) -> Any:
        raise AssertionError("a use case on fakes reached for a database connection")

    def commit(self) -> None:
        assert not self.readonly, "a read-only unit of work committed"
        self.saved = self._transactions.snapshot()

    def rollback(self) -> None:
        self._transactions.restore(self.saved)


class FakeTransactions:
    """``Database.run`` on the fakes, and the ledger's storage on them (no fast path)."""

    def __init__(self, *fakes: _Rollback) -> None:
        self.fakes = fakes
        self.runs = 0

    def snapshot(self) -> list[dict[str, Any]]:
        return [fake.snapshot() for fake in self.fakes]

    def restore(self, saved: list[dict[str, Any]]) -> None:
        for fake, state in zip(self.fakes, saved, strict=True):
            fake.restore(copy.deepcopy(state))

    def run(self, work: Callable[[Any], T], *, readonly: bool = False) -> T:
        self.runs += 1
        uow = FakeUnitOfWork(self, readonly)
        try:
            return work(uow)
        finally:
            uow.rollback()  # back to the last commit: what was committed stands


@attrs.define
class FakeLedgerStorage:
    """The ledger's storage on the fake repository. It has no one-statement posted
    transfer: ``post_at_once`` answers None, and the general path decides."""

    repo: FakeLedgerRepository

    def repository(self, uow: object) -> LedgerRepository:
        return self.repo

    def post_at_once(
        self, row: Transfer, debit_code: str | None, credit_code: str | None, key: ChainKey
    ) -> Transfer | None:
        return None


@attrs.define
class LedgerWorld:
    """A ledger service on fakes, with its clock, customers and repository at hand."""

    clock: FrozenClock
    customers: FakeCustomers
    repo: FakeLedgerRepository
    transactions: FakeTransactions
    ledger: LedgerService

    @classmethod
    def create(cls) -> LedgerWorld:
        clock = FrozenClock(START)
        customers = FakeCustomers()
        repo = FakeLedgerRepository()
        transactions = FakeTransactions(customers, repo)
        ledger = LedgerService(
            transactions, clock, customers, ledger_key=KEY, storage=FakeLedgerStorage(repo)
        )
        return cls(clock, customers, repo, transactions, ledger)
