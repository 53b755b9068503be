"""In-memory fakes of what funding's (and payouts') use cases stand on: the customer
accounts, the ledger inside a transaction, funding's rows, the outbox, payment sources,
and transactions that roll back what a use case did not commit. No I/O.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import attrs

from postroom.core.accounts.model import AccountStatus, CustomerAccount
from postroom.core.clock import FrozenClock
from postroom.core.errors import Conflict, InsufficientFunds, NotFound
from postroom.core.funding.context import FundingContext
from postroom.core.funding.model import (
    AutoRefillRule,
    Instrument,
    ManualDeposit,
    Payment,
    Statement,
)
from postroom.core.funding.ports import FundingRepos
from postroom.core.funding.service import FundingService
from postroom.core.funding.sources import PaymentSources
from postroom.core.ledger.model import (
    AccountKind,
    Balances,
    LedgerAccount,
    Phase,
    Transfer,
    TransferCode,
    TransferRequest,
)
from postroom.core.ledger.service import postage_code, system_code
from postroom.core.money import Money
from postroom.core.ports import PaymentResult, PaymentStatus

T = TypeVar("T")
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Rollback:
    """State a fake keeps: every attribute not named in ``_links`` (its neighbours)."""

    _links: tuple[str, ...] = ()

    def snapshot(self) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in vars(self).items() if k not in self._links}

    def restore(self, state: dict[str, Any]) -> None:
        vars(self).update(state)


class FakeCustomers(Rollback):
    def __init__(self) -> None:
        self.by_number: dict[str, CustomerAccount] = {}
        self.closed_accounts: set[int] = set()  # closed postage (ledger) account ids
        self.closed_refunds: dict[str, int] = {}  # customer number -> mills payable

    def add(self, number: str, currency: str = "USD") -> CustomerAccount:
        customer = CustomerAccount(
            len(self.by_number) + 1,
            number,
            f"Customer {number}",
            "US",
            currency,
            AccountStatus.ACTIVE,
            START,
        )
        self.by_number[number] = customer
        return customer

    def customer(self, customer_number: str) -> CustomerAccount:
        found = self.by_number.get(customer_number)
        if found is None:
            raise NotFound(f"no account {customer_number}", code="account_not_found")
        return found

    def customer_by_id(self, customer_id: int) -> CustomerAccount | None:
        return next((c for c in self.by_number.values() if c.id == customer_id), None)

    def customer_by_number(self, number: str) -> CustomerAccount | None:
        return self.by_number.get(number)

    def is_closed(self, ledger_account_id: int) -> bool:
        return ledger_account_id in self.closed_accounts

    def closed_refund(self, customer_number: str) -> int:
        return self.closed_refunds.get(customer_number, 0)

    def closed_customers(self) -> list[str]:
        return [n for n, mills in self.closed_refunds.items() if mills > 0]


class FakeLedger(Rollback):
    """Accounts with balances and transfers posted, reserved, posted from a reservation
    or voided; a transfer id seen before is a replay. Funds accounts never go below
    their credit limit (``insufficient_funds``)."""

    _links = ("customers", "clock")

    def __init__(self, customers: FakeCustomers, clock: FrozenClock) -> None:
        self.customers = customers
        self.clock = clock
        self.accounts_by_id: dict[int, LedgerAccount] = {}
        self.transfers: dict[str, Transfer] = {}

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
    ) -> LedgerAccount:
        account = LedgerAccount(
            len(self.accounts_by_id) + 1,
            code,
            kind,
            currency,
            owner_id,
            credit_limit,
            debits_must_not_exceed_credits,
            credits_must_not_exceed_debits,
            Balances(),
            self.clock.now(),
        )
        self.accounts_by_id[account.id] = account
        return account

    def postage_account(self, customer_number: str, *, create: bool = False) -> LedgerAccount:
        customer = self.customers.customer(customer_number)
        found = self.account_by_code(postage_code(customer.number))
        if found is not None:
            return found
        if not create:
            raise NotFound("no postage account", code="no_postage_account")
        return self.add_account(
            postage_code(customer.number),
            AccountKind.POSTAGE,
            customer.currency,
            customer.id,
            0,
            True,
            False,
        )

    def system_account(
        self, kind: AccountKind, currency: str, operator: str | None = None
    ) -> LedgerAccount:
        code = system_code(kind, currency, operator)
        found = self.account_by_code(code)
        return found or self.add_account(code, kind, currency, None, 0, False, False)

    def account_by_code(self, code: str) -> LedgerAccount | None:
        return next((a for a in self.accounts_by_id.values() if a.code == code), None)

    def accounts(self, *, owner_id: int | None = None) -> list[LedgerAccount]:
        return [
            a for a in self.accounts_by_id.values() if owner_id is None or a.owner_id == owner_id
        ]

    def lock_accounts(self, ids: Iterable[int]) -> dict[int, LedgerAccount]:
        return {i: self.accounts_by_id[i] for i in sorted(ids)}

    def codes_by_id(self, ids: Iterable[int]) -> dict[int, str]:
        return {i: self.accounts_by_id[i].code for i in ids if i in self.accounts_by_id}

    def owner_of(self, account_id: int) -> int | None:
        found = self.accounts_by_id.get(account_id)
        return None if found is None else found.owner_id

    # transfers
    def post(self, requests: Sequence[TransferRequest]) -> list[Transfer]:
        return [self._post(r) for r in requests]

    def deposit(
        self, customer_number: str, amount: Money, transfer_id: str, *, reference: str = ""
    ) -> Transfer:
        postage = self.postage_account(customer_number, create=True)
        clearing = self.system_account(AccountKind.PAYMENT_CLEARING, postage.currency)
        done = self._post(
            TransferRequest(
                transfer_id,
                clearing.id,
                postage.id,
                amount.mills,
                amount.currency,
                code=TransferCode.DEPOSIT,
                reference=reference,
            )
        )
        if self.customers.is_closed(postage.id):
            raise Conflict(f"{postage.code} is closed", code="account_closed")
        return done

    def transfers_by_id(self, ids: Iterable[str]) -> dict[str, Transfer]:
        return {i: self.transfers[i] for i in ids if i in self.transfers}

    def resolutions_of(self, pending_ids: Iterable[str]) -> dict[str, Transfer]:
        wanted = set(pending_ids)
        return {t.pending_id: t for t in self.transfers.values() if t.pending_id in wanted}  # type: ignore[misc]

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
        ids, wanted = set(account_ids), None if phases is None else set(phases)
        found = [
            t
            for t in self.transfers.values()
            if {t.debit_account_id, t.credit_account_id} & ids
            and (since is None or t.created_at >= since)
            and (until is None or t.created_at < until)
            and (wanted is None or t.phase in wanted)
        ]
        return found[::-1] if newest_first else found

    def available(self, code: str) -> int:
        """What the account ``code`` may still spend (a test's question)."""
        found = self.account_by_code(code)
        return 0 if found is None else found.balances.available

    def _post(self, r: TransferRequest) -> Transfer:
        if r.id in self.transfers:
            return attrs.evolve(self.transfers[r.id], replayed=True)
        if r.phase in (Phase.POST, Phase.VOID):
            assert r.pending_id is not None
            pending = self.transfers[r.pending_id]
            debit, credit, amount = (
                pending.debit_account_id,
                pending.credit_account_id,
                pending.amount,
            )
            self._move(debit, credit, amount, pending=True, sign=-1)
            if r.phase is Phase.POST:
                self._move(debit, credit, amount, pending=False, sign=1)
            currency = pending.currency
        else:
            debit, credit = self._id(r.debit), self._id(r.credit)
            assert r.amount is not None
            assert r.currency is not None
            amount, currency = r.amount, r.currency
            self._move(debit, credit, amount, pending=r.phase is Phase.PENDING, sign=1)
            account = self.accounts_by_id[debit]
            if account.violation(account.balances) is not None:
                self._move(debit, credit, amount, pending=r.phase is Phase.PENDING, sign=-1)
                raise InsufficientFunds(f"{account.code} cannot cover {amount} mills")
        done = Transfer(
            len(self.transfers) + 1,
            r.id,
            debit,
            credit,
            amount,
            currency,
            r.phase,
            r.code,
            r.pending_id,
            None,
            None,
            r.pieces,
            r.reference,
            "",
            self.clock.now(),
            "",
            "",
        )
        self.transfers[r.id] = done
        return done

    def _id(self, ref: int | str | None) -> int:
        if isinstance(ref, int):
            return ref
        found = self.account_by_code(str(ref))
        assert found is not None, ref
        return found.id

    def _move(self, debit: int, credit: int, amount: int, *, pending: bool, sign: int) -> None:
        d, c = self.accounts_by_id[debit], self.accounts_by_id[credit]
        if pending:
            d.balances = attrs.evolve(
                d.balances, debits_pending=d.balances.debits_pending + sign * amount
            )
            c.balances = attrs.evolve(
                c.balances, credits_pending=c.balances.credits_pending + sign * amount
            )
        else:
            d.balances = attrs.evolve(
                d.balances, debits_posted=d.balances.debits_posted + sign * amount
            )
            c.balances = attrs.evolve(
                c.balances, credits_posted=c.balances.credits_posted + sign * amount
            )


@attrs.define
class _PaymentRow:
    customer_id: int
    payment: Payment
    body_hash: str


class FakeFundingRepository(Rollback):
    """``FundingRepository`` in dictionaries."""

    def __init__(self) -> None:
        self.instruments_by_id: dict[str, tuple[int, Instrument]] = {}
        self.payment_rows: dict[str, _PaymentRow] = {}
        self.rules: dict[int, AutoRefillRule] = {}
        self.statements: dict[tuple[int, str], Statement] = {}
        self.deposits: dict[str, tuple[int, ManualDeposit]] = {}

    # manual deposits
    def add_manual_deposit(self, customer_id: int, deposit: ManualDeposit) -> None:
        assert deposit.transfer_id not in self.deposits  # the table's primary key
        self.deposits[deposit.transfer_id] = (customer_id, deposit)

    def manual_deposit(self, transfer_id: str) -> ManualDeposit | None:
        found = self.deposits.get(transfer_id)
        return None if found is None else found[1]

    def manual_deposits(
        self, customer_id: int | None, *, limit: int, offset: int
    ) -> list[ManualDeposit]:
        rows = [d for cid, d in self.deposits.values() if customer_id in (None, cid)]
        rows.sort(key=lambda d: (d.created_at, d.transfer_id), reverse=True)
        return rows[offset : offset + limit]

    # instruments
    def add_instrument(
        self,
        id: str,
        customer_id: int,
        source: str,
        label: str,
        details: dict[str, str],
        now: datetime,
    ) -> None:
        number = f"#{customer_id}"
        instrument = Instrument(id, number, source, label[:200], dict(details), "active", now)
        self.instruments_by_id[id] = (customer_id, instrument)

    def instrument(self, id: str, customer_id: int, number: str) -> Instrument | None:
        found = self.instruments_by_id.get(id)
        if found is None or found[0] != customer_id:
            return None
        return attrs.evolve(found[1], customer_number=number)

    def instrument_owner(self, id: str) -> int | None:
        found = self.instruments_by_id.get(id)
        return None if found is None else found[0]

    def instruments(
        self, customer_id: int, number: str, *, include_removed: bool = False
    ) -> list[Instrument]:
        return [
            attrs.evolve(i, customer_number=number)
            for cid, i in self.instruments_by_id.values()
            if cid == customer_id and (include_removed or i.status == "active")
        ]

    def remove_instrument(self, id: str, now: datetime) -> None:
        cid, instrument = self.instruments_by_id[id]
        self.instruments_by_id[id] = (cid, attrs.evolve(instrument, status="removed"))

    def instrument_details(self, payment_id: str) -> str:
        row = self.payment_rows[payment_id]
        _, instrument = self.instruments_by_id[row.payment.instrument_id]
        return json.dumps(instrument.details, sort_keys=True)

    # payments
    def add_payment(
        self,
        id: str,
        customer_id: int,
        instrument: Instrument,
        kind: str,
        amount: Money,
        key: str,
        body_hash: str,
        now: datetime,
    ) -> None:
        assert all(  # the table's unique (customer, key)
            not (r.customer_id == customer_id and r.payment.idempotency_key == key)
            for r in self.payment_rows.values()
        )
        payment = Payment(
            id=id,
            customer_number=instrument.customer_number,
            instrument_id=instrument.id,
            source=instrument.source,
            kind=kind,
            amount=amount,
            idempotency_key=key,
            status=PaymentStatus.PENDING,
            source_reference="",
            transfer_id=None,
            failure_code=None,
            failure_message="",
            return_reason=None,
            outstanding=0,
            created_at=now,
            updated_at=now,
        )
        self.payment_rows[id] = _PaymentRow(customer_id, payment, body_hash)

    def payment_by_key(self, customer_id: int, key: str, number: str) -> tuple[Payment, str] | None:
        for row in self.payment_rows.values():
            if row.customer_id == customer_id and row.payment.idempotency_key == key:
                return attrs.evolve(row.payment, customer_number=number), row.body_hash
        return None

    def payment(self, id: str, customer_id: int | None, number: str) -> Payment | None:
        row = self.payment_rows.get(id)
        if row is None or customer_id not in (None, row.customer_id):
            return None
        return attrs.evolve(row.payment, customer_number=number)

    def payment_owner(self, id: str) -> int | None:
        row = self.payment_rows.get(id)
        return None if row is None else row.customer_id

    def payments(self, customer_id: int, number: str, *, limit: int, offset: int) -> list[Payment]:
        rows = self._of(customer_id, number)
        rows.sort(key=lambda p: (p.created_at, p.id), reverse=True)
        return rows[offset : offset + limit]

    def update_payment(self, id: str, now: datetime, **values: object) -> None:
        if "status" in values:
            values["status"] = PaymentStatus(values["status"])
        row = self.payment_rows[id]
        row.payment = attrs.evolve(row.payment, updated_at=now, **values)  # type: ignore[arg-type]

    def submitted_before(self, before: datetime, limit: int) -> list[tuple[str, str, datetime]]:
        rows = sorted(
            (r.payment for r in self.payment_rows.values()),
            key=lambda p: (p.created_at, p.id),
        )
        return [
            (p.id, p.source, p.created_at)
            for p in rows
            if p.status is PaymentStatus.PENDING and p.source_reference and p.created_at < before
        ][:limit]

    def debts(self, customer_id: int, number: str) -> list[Payment]:
        found = [p for p in self._of(customer_id, number) if p.outstanding > 0]
        return sorted(found, key=lambda p: (p.updated_at, p.id))

    def refills_locked(self, customer_id: int) -> bool:
        return any(
            r.customer_id == customer_id and r.payment.outstanding > 0
            for r in self.payment_rows.values()
        )

    def auto_refilled(self, customer_id: int, since: datetime, until: datetime) -> int:
        return sum(
            p.amount.mills
            for p in self._of(customer_id, "")
            if p.kind == "auto_refill"
            and p.status is not PaymentStatus.FAILED
            and since <= p.created_at < until
        )

    def pending_payments(self, customer_id: int, number: str) -> list[Payment]:
        found = [
            p
            for p in self._of(customer_id, number)
            if p.status is PaymentStatus.PENDING and p.source_reference
        ]
        return sorted(found, key=lambda p: (p.created_at, p.id))

    def declined_auto_refills(self, customer_id: int) -> int:
        return sum(
            p.kind == "auto_refill" and p.status is PaymentStatus.FAILED
            for p in self._of(customer_id, "")
        )

    def settled_payments(
        self, customer_id: int, kinds: tuple[str, ...], sources: list[str]
    ) -> list[tuple[str, int]]:
        found = [
            p
            for p in self._of(customer_id, "")
            if p.kind in kinds
            and p.source in sources
            and p.status is PaymentStatus.SETTLED
            and p.outstanding == 0
        ]
        found.sort(key=lambda p: (p.created_at, p.id), reverse=True)
        return [(p.id, p.amount.mills) for p in found]

    def add_refunded(self, payment_id: str, mills: int, now: datetime) -> None:
        row = self.payment_rows[payment_id]
        refunded = row.payment.refunded + mills
        status = row.payment.status
        if refunded >= row.payment.amount.mills:
            status = PaymentStatus.REFUNDED
        elif status is PaymentStatus.REFUNDED:
            status = PaymentStatus.SETTLED
        row.payment = attrs.evolve(row.payment, refunded=refunded, status=status, updated_at=now)

    # auto-refill rules
    def rule(self, customer_id: int, number: str) -> AutoRefillRule | None:
        found = self.rules.get(customer_id)
        return None if found is None else attrs.evolve(found, customer_number=number)

    def has_rule(self, customer_id: int) -> bool:
        return customer_id in self.rules

    def save_rule(self, customer_id: int, rule: AutoRefillRule, now: datetime) -> None:
        self.rules[customer_id] = rule

    def delete_rule(self, customer_id: int) -> bool:
        return self.rules.pop(customer_id, None) is not None

    def set_alerted(self, customer_id: int, alerted: bool, now: datetime) -> bool:
        rule = self.rules.get(customer_id)
        if rule is None or rule.alerted == alerted:
            return False
        self.rules[customer_id] = attrs.evolve(rule, alerted=alerted)
        return True

    def record_decline(
        self, customer_id: int, declines_before: int, after: AutoRefillRule, now: datetime
    ) -> bool:
        rule = self.rules.get(customer_id)
        if rule is None or rule.declines != declines_before:
            return False
        self.rules[customer_id] = attrs.evolve(
            rule, declines=after.declines, retry_at=after.retry_at, suspended=after.suspended
        )
        return True

    def clear_declines(self, customer_id: int, now: datetime) -> bool:
        rule = self.rules.get(customer_id)
        if rule is None or not (rule.declines or rule.suspended):
            return False
        self.rules[customer_id] = attrs.evolve(rule, declines=0, retry_at=None, suspended=False)
        return True

    def rule_customers(self) -> list[int]:
        return sorted(self.rules)

    # statements
    def statement(self, customer_id: int, month: str, number: str) -> Statement | None:
        return self.statements.get((customer_id, month))

    def add_statement(self, customer_id: int, statement: Statement) -> None:
        self.statements[(customer_id, statement.month)] = statement

    def _of(self, customer_id: int, number: str) -> list[Payment]:
        return [
            attrs.evolve(r.payment, customer_number=number or r.payment.customer_number)
            for r in self.payment_rows.values()
            if r.customer_id == customer_id
        ]


@attrs.frozen
class Message:
    id: str
    customer_number: str
    kind: str
    subject: str
    body: str
    data: Mapping[str, str]


class FakeOutbox(Rollback):
    """Messages queued in a transaction (``MessagesPort``) and delivered after it
    (``Deliverer``)."""

    def __init__(self) -> None:
        self.queued: list[Message] = []
        self.delivered: list[str] = []

    def to_customer(
        self, customer_number: str, kind: str, subject: str, body: str, data: Mapping[str, str]
    ) -> str:
        message = Message(
            f"msg-{len(self.queued) + 1}", customer_number, kind, subject, body, dict(data)
        )
        self.queued.append(message)
        return message.id

    def deliver(self, message_ids: Iterable[str]) -> int:
        ids = list(message_ids)
        self.delivered.extend(ids)
        return len(ids)

    def kinds(self, customer_number: str | None = None) -> list[str]:
        """The kinds of the messages delivered (to one customer), in order."""
        by_id = {m.id: m for m in self.queued}
        return [
            by_id[i].kind
            for i in self.delivered
            if customer_number in (None, by_id[i].customer_number)
        ]


@attrs.define
class FakeSource:
    """A payment source that answers what the test queued (``answers``; else
    ``default``), the same answer again for a key it saw (as sources must)."""

    code: str
    kind: str = "card"
    name: str = "Test source"
    currencies: Sequence[str] = ()
    self_service: bool = True
    return_codes: Mapping[str, str] = attrs.Factory(dict)
    settlement_days: int = 0
    sandbox: bool = False
    default: PaymentStatus = PaymentStatus.SETTLED
    unreachable: bool = False  # a charge or refund raises, as a dead connection does
    answers: list[PaymentResult] = attrs.Factory(list)
    charges: dict[str, PaymentResult] = attrs.Factory(dict)
    refunds: dict[str, PaymentResult] = attrs.Factory(dict)
    _serial: Any = attrs.field(factory=itertools.count)

    def validate_instrument(
        self, instrument: Mapping[str, str], *, now: datetime
    ) -> Mapping[str, str]:
        return dict(instrument)

    def describe(self, instrument: Mapping[str, str]) -> str:
        return f"{self.name} {instrument.get('last4', '')}".strip()

    def authorize(self, *args: object, **kwargs: object) -> PaymentResult:
        raise AssertionError("funding does not authorize")

    def charge(
        self,
        instrument: Mapping[str, str],
        amount_mills: int,
        currency: str,
        idempotency_key: str,
        *,
        now: datetime,
    ) -> PaymentResult:
        if self.unreachable:
            raise OSError("connection refused")
        if idempotency_key not in self.charges:
            self.charges[idempotency_key] = self._answer("ch")
        return self.charges[idempotency_key]

    def refund(
        self,
        instrument: Mapping[str, str],
        payment_reference: str,
        amount_mills: int,
        currency: str,
        idempotency_key: str,
        *,
        now: datetime,
    ) -> PaymentResult:
        if self.unreachable:
            raise OSError("connection refused")
        if idempotency_key not in self.refunds:
            self.refunds[idempotency_key] = self._answer("re")
        return self.refunds[idempotency_key]

    def _answer(self, prefix: str) -> PaymentResult:
        if self.answers:
            return self.answers.pop(0)
        return PaymentResult(f"{prefix}_{self.code}_{next(self._serial)}", self.default)


def declined(code: str = "card_declined") -> PaymentResult:
    return PaymentResult("ch_declined", PaymentStatus.FAILED, code, "The card was declined")


class FakeTransaction:
    def __init__(self) -> None:
        self.committed = False

    def commit(self) -> None:
        self.committed = True


class FakeTransactions:
    """Runs work on the fakes as one transaction: what it did not commit (or did before
    raising) is rolled back."""

    def __init__(self, *fakes: Rollback) -> None:
        self._fakes = list(fakes)

    def watch(self, fake: Rollback) -> None:
        """Roll ``fake`` back with the others."""
        self._fakes.append(fake)

    def run(self, work: Callable[[Any], T], *, readonly: bool = False) -> T:
        saved = [fake.snapshot() for fake in self._fakes]
        uow = FakeTransaction()
        try:
            result = work(uow)
        except BaseException:
            self._restore(saved)
            raise
        if not uow.committed:
            self._restore(saved)
        return result

    def _restore(self, saved: list[dict[str, Any]]) -> None:
        for fake, state in zip(self._fakes, saved, strict=True):
            fake.restore(state)


class FundingWorld:
    """Funding's use cases (``service``, as ``pr.funding``) on fakes, with the fakes at
    hand for a test to arrange and inspect."""

    def __init__(self, *sources: FakeSource, sandbox_allowed: bool = True) -> None:
        self.clock = FrozenClock(START)
        self.customers = FakeCustomers()
        self.ledger = FakeLedger(self.customers, self.clock)
        self.funding = FakeFundingRepository()
        self.outbox = FakeOutbox()
        self.transactions = FakeTransactions(self.customers, self.ledger, self.funding, self.outbox)
        self.sources = {s.code: s for s in sources}
        self.service = FundingService(
            FundingContext(
                self.transactions,
                self.repositories,
                self.clock,
                PaymentSources(
                    lambda: list(self.sources.values()), sandbox_allowed=sandbox_allowed
                ),
                self.outbox,
            )
        )

    def repositories(self, uow: FakeTransaction) -> FundingRepos:
        return FundingRepos(self.funding, self.ledger, self.customers, self.outbox, uow.commit)

    def available(self, customer_number: str) -> int:
        return self.ledger.available(postage_code(customer_number))
