"""In-memory fakes of the ledger and the accounts area as the money-moving areas (meters,
refunds) use them: ``LedgerService.run_idempotent``/``within`` and the ``LedgerSession``
reads and posts, the customers and closures. A post moves balances and a meter's
registers by the ledger model's own rules (``Balances``, ``MeterRegisters.after``); the
chain, the keyed hashes and the limits checks are the ledger's and stay in its tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import attrs
from fakes_transactions import FakeDatabase

from postroom.core.accounts.closure import AccountClosure
from postroom.core.accounts.model import AccountStatus, CustomerAccount
from postroom.core.errors import NotFound
from postroom.core.ledger.model import (
    AccountKind,
    Balances,
    HistoryItem,
    LedgerAccount,
    MeterRegisters,
    Phase,
    Transfer,
    TransferCode,
    TransferRequest,
)
from postroom.core.ledger.service import postage_code, system_code

T = TypeVar("T")
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class FakeLedger:
    """The ledger as the refunds see it: ``run_idempotent`` and ``within`` (itself as
    the session), accounts with balances, meters' registers and posted transfers."""

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db
        self.accounts_by_id: dict[int, LedgerAccount] = {}
        self.meters: dict[str, MeterRegisters] = {}
        self.transfers: dict[str, Transfer] = {}
        self.ids = itertools.count(1)

    def run_idempotent(self, work: Callable[[Any], T]) -> T:
        return self._db.run(work)

    def within(self, uow: Any) -> FakeLedger:
        return self

    def debited(self, account_id: int) -> None:
        """The ledger's debit listeners (funding's low-balance watch): none here."""

    def customer_transfer(self, customer_number: str, transfer_id: str) -> HistoryItem:
        found = self.transfers.get(transfer_id)
        owner = self.account_by_code(postage_code(customer_number))
        mine = (
            owner is not None
            and found is not None
            and owner.owner_id
            in {
                self.accounts_by_id[found.debit_account_id].owner_id,
                self.accounts_by_id[found.credit_account_id].owner_id,
            }
        )
        if found is None or not mine:
            raise NotFound(f"no transfer {transfer_id!r}", code="transfer_not_found")
        return HistoryItem(
            found,
            self.accounts_by_id[found.debit_account_id].code,
            self.accounts_by_id[found.credit_account_id].code,
        )

    # -- set-up ------------------------------------------------------------------------

    def open_account(
        self, code: str, kind: AccountKind, currency: str, owner_id: int | None = None
    ) -> LedgerAccount:
        account = LedgerAccount(
            next(self.ids), code, kind, currency, owner_id, 0, False, False, Balances(), EPOCH
        )
        self.accounts_by_id[account.id] = account
        return account

    def open_meter(self, serial: str, customer: CustomerAccount, operator: str) -> MeterRegisters:
        account = self.open_account(
            f"meter:{serial}", AccountKind.METER, customer.currency, customer.id
        )
        meter = MeterRegisters(account.id, serial, customer.id, operator, customer.currency)
        self.meters[serial] = meter
        return meter

    def deposit(self, customer_number: str, mills: int) -> None:
        """Funds in the customer's postage account (a settled payment would bring them)."""
        account = self.account_by_code(postage_code(customer_number))
        assert account is not None
        clearing = self.system_account(AccountKind.PAYMENT_CLEARING, account.currency)
        request = TransferRequest(
            id=f"dep:{customer_number}:{len(self.transfers)}",
            debit=clearing.id,
            credit=account.id,
            amount=mills,
            currency=account.currency,
            code=TransferCode.DEPOSIT,
        )
        self.post([request])

    def record_usage(self, serial: str, transfer_id: str, mills: int, pieces: int) -> Transfer:
        """A posted usage report of meter ``serial`` (what its sync would record)."""
        meter = self.meters[serial]
        used = self.system_account(AccountKind.POSTAGE_USED, meter.currency, meter.operator)
        request = TransferRequest(
            id=transfer_id,
            debit=meter.account_id,
            credit=used.id,
            amount=mills,
            currency=meter.currency,
            code=TransferCode.USAGE,
            pieces=pieces,
        )
        return self.post([request])[0]

    # -- LedgerSession ----------------------------------------------------------------

    def account_by_code(self, code: str) -> LedgerAccount | None:
        return next((a for a in self.accounts_by_id.values() if a.code == code), None)

    def accounts(self, *, owner_id: int | None = None) -> list[LedgerAccount]:
        return [a for a in self.accounts_by_id.values() if owner_id in (None, a.owner_id)]

    def lock_accounts(self, ids: Iterable[int]) -> dict[int, LedgerAccount]:
        return {i: self.accounts_by_id[i] for i in sorted(ids)}

    def system_account(
        self, kind: AccountKind, currency: str, operator: str | None = None
    ) -> LedgerAccount:
        code = system_code(kind, currency, operator)
        return self.account_by_code(code) or self.open_account(code, kind, currency)

    def meter_by_serial(self, serial: str) -> MeterRegisters | None:
        return self.meters.get(serial)

    def postage_account(self, customer_number: str, *, create: bool = False) -> LedgerAccount:
        found = self.account_by_code(postage_code(customer_number))
        if found is None:
            raise NotFound(f"no postage account {customer_number}", code="no_postage_account")
        return found

    def ids_seen(self, ids: Iterable[str]) -> bool:
        return any(i in self.transfers for i in ids)

    def refuse_closed(self, account: LedgerAccount, done: Transfer) -> None:
        """Closed accounts are the refunds' tests' business (``close_account``)."""

    def set_meter_status(self, account_id: int, status: str) -> None:
        for serial, meter in self.meters.items():
            if meter.account_id == account_id:
                self.meters[serial] = attrs.evolve(meter, status=status)

    def withdrawn_meters(self) -> list[str]:
        return sorted(s for s, m in self.meters.items() if m.status != "active")

    def meters_for_accounts(self, account_ids: Iterable[int]) -> dict[int, MeterRegisters]:
        wanted = set(account_ids)
        return {m.account_id: m for m in self.meters.values() if m.account_id in wanted}

    def transfers_by_id(self, ids: Iterable[str]) -> dict[str, Transfer]:
        return {i: self.transfers[i] for i in ids if i in self.transfers}

    def usage_covering(self, meter_account_id: int, piece: int) -> Transfer | None:
        upto = 0
        for t in sorted(self.transfers.values(), key=lambda t: t.seq):
            if t.debit_account_id != meter_account_id or t.code is not TransferCode.USAGE:
                continue
            if upto < piece <= upto + t.pieces:
                return t
            upto += t.pieces
        return None

    def chain_head(self) -> tuple[int, str]:
        return len(self.transfers), "head"

    def post(self, requests: Sequence[TransferRequest]) -> list[Transfer]:
        done = []
        for r in requests:
            if r.id in self.transfers:  # a replayed id answers its first result
                done.append(self.transfers[r.id])
                continue
            debit = self._account(r.debit)
            credit = self._account(r.credit)
            transfer = Transfer(
                seq=len(self.transfers) + 1,
                id=r.id,
                debit_account_id=debit.id,
                credit_account_id=credit.id,
                amount=r.amount,
                currency=r.currency or debit.currency,
                phase=Phase.POSTED,
                code=r.code,
                pending_id=None,
                timeout_at=None,
                batch=None,
                pieces=r.pieces,
                reference=r.reference,
                body_hash="",
                created_at=EPOCH,
                prev_hash="",
                row_hash="",
                cost_center=r.cost_center,
            )
            self.transfers[r.id] = transfer
            debit.balances = debit.balances.debited(r.amount)
            credit.balances = credit.balances.credited(r.amount)
            for serial, meter in self.meters.items():
                if meter.account_id in (debit.id, credit.id):
                    self.meters[serial] = meter.after(transfer)
            done.append(transfer)
        return done

    def _account(self, ref: int | str) -> LedgerAccount:
        if isinstance(ref, int):
            return self.accounts_by_id[ref]
        found = self.account_by_code(ref)
        assert found is not None, ref
        return found

    def balance(self, code: str) -> int:
        account = self.account_by_code(code)
        assert account is not None
        return account.balances.balance


class FakeAccounts:
    """The accounts area's customer and closure reads inside a unit of work."""

    def __init__(self) -> None:
        self.customers: dict[str, CustomerAccount] = {}
        self.closures: dict[int, AccountClosure] = {}

    def add(self, number: str, currency: str = "USD") -> CustomerAccount:
        customer = CustomerAccount(
            len(self.customers) + 1,
            number,
            f"Customer {number}",
            "US",
            currency,
            AccountStatus.ACTIVE,
            EPOCH,
        )
        self.customers[number] = customer
        return customer

    def customer_in(self, uow: Any, customer_number: object) -> CustomerAccount:
        found = self.customers.get(str(customer_number))
        if found is None:
            raise NotFound(f"no customer account {customer_number}", code="account_not_found")
        return found

    def get(self, customer_number: str) -> CustomerAccount:
        return self.customer_in(None, customer_number)

    def customer_by_id_in(self, uow: Any, customer_id: int) -> CustomerAccount | None:
        return next((c for c in self.customers.values() if c.id == customer_id), None)

    def closure_in(self, uow: Any, ledger_account_id: int) -> AccountClosure | None:
        return self.closures.get(ledger_account_id)

    def is_closed_in(self, uow: Any, ledger_account_id: int) -> bool:
        return ledger_account_id in self.closures

    def record_closure_in(self, uow: Any, ledger_account_id: int, closure: AccountClosure) -> None:
        self.closures[ledger_account_id] = closure


def open_customer(ledger: FakeLedger, accounts: FakeAccounts, number: str) -> CustomerAccount:
    """A customer with an open postage account."""
    customer = accounts.add(number)
    ledger.open_account(postage_code(number), AccountKind.POSTAGE, customer.currency, customer.id)
    return customer
