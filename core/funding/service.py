"""Funding (``pr.funding``): payment instruments, deposits through payment sources,
failed and returned debits, the refill lock, auto-refill, low-balance alerts and the
postage line of credit's monthly statement.

Money moves only through the ledger's API, here with ``LedgerService.within(uow).post`` so
that a ledger transfer and the funding row that explains it commit together:

- a settled charge credits the postage account from payment clearing (``pay:<payment>``),
  or from the customer's credit-line account for a credit-line draw;
- a bank debit the source answers ``pending`` is booked as a pending (two-phase) transfer
  ``pay:<payment>`` without a timeout: the money shows as on its way but is not
  spendable until the bank has paid. Settling posts it (``settle:<payment>``); a
  failure or return before that voids it (``void:<payment>``): nothing was spent, so
  nothing is owed;
- a debit returned after it settled takes back what it credited (``return:<payment>``)
  as far as the balance allows, never below zero; what cannot be taken back stays as
  the payment's ``outstanding`` debt, and while any debt remains the customer's meter
  refills are refused (``refills_locked``, 39 CFR 501.16);
- the next settled payment first pays the debt (``recover:<payment>``), which lifts
  the lock once nothing is outstanding.

A payment source is called between two transactions (never while rows are locked):
the payment row is written first, then the source is charged with the payment id as
its idempotency key, then the outcome is recorded. A retry with the same client key
resumes where a crash left off and never charges twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

import attrs
from sqlalchemy.exc import IntegrityError

from postroom.core.accounts.model import CustomerAccount
from postroom.core.accounts.service import AccountsService
from postroom.core.clock import Clock
from postroom.core.db import Database, UnitOfWork
from postroom.core.errors import (
    Conflict,
    InsufficientFunds,
    NotFound,
    PermissionDenied,
    PostroomError,
    ValidationError,
)
from postroom.core.funding.model import (
    INSTRUMENT_ID,
    PAYMENT_ID,
    AutoRefillRule,
    Instrument,
    ManualDeposit,
    Payment,
    PaymentKind,
    Statement,
    check_instrument_id,
    check_key,
    check_payment_id,
    check_reason,
    check_return_reason,
    check_staff,
    day_bounds,
    month_bounds,
    parse_month,
    previous_month,
    return_reason_code,
)
from postroom.core.funding.store import (
    FundingStore,
    has_rule,
    refills_locked,
)
from postroom.core.ledger.model import (
    POSTING_PHASES,
    AccountKind,
    LedgerAccount,
    Phase,
    TransferCode,
    TransferRequest,
    check_amount,
    check_transfer_id,
)
from postroom.core.ledger.service import LedgerService, LedgerSession, postage_code
from postroom.core.money import Money
from postroom.core.outbox import Outbox
from postroom.core.plugins import PluginManager
from postroom.core.ports import (
    PaymentResult,
    PaymentSource,
    PaymentStatus,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

CREDIT_LINE_KIND = "credit_line"
#: The regulation behind the refill lock, quoted in errors and notifications.
REFILL_LOCK_RULE = "39 CFR 501.16"


class PaymentDeclined(PostroomError):
    """The payment source refused the payment; ``code`` is the source's reason."""

    code = "payment_declined"
    http_status = 402


class SandboxRefused(PermissionDenied):
    """A sandbox payment source in production, where it is not explicitly allowed."""

    code = "sandbox_source_refused"


class PaymentSourceUnavailable(PostroomError):
    """The payment source could not be reached; retry with the same key."""

    code = "payment_source_unavailable"
    http_status = 503


def credit_line_code(customer_number: str) -> str:
    return f"credit_line:{customer_number}"


@attrs.frozen
class FundingOverview:
    """How a customer pays (``FundingService.overview``): the active instruments and
    the auto-refill rule if one is set."""

    instruments: list[Instrument]
    auto_refill: AutoRefillRule | None


@attrs.frozen
class CheckResult:
    """What one auto-refill / low-balance check did."""

    refill: Payment | None = None
    alerted: bool = False
    skipped: str | None = None  # why no refill was tried: daily_cap, refills_locked...

    def to_json(self) -> dict[str, Any]:
        return {
            "refill": None if self.refill is None else self.refill.to_json(),
            "alerted": self.alerted,
            "skipped": self.skipped,
        }


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode()).hexdigest()


class FundingService:
    """``pr.funding``: how money reaches the postage accounts."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        plugins: PluginManager,
        ledger: LedgerService,
        accounts: AccountsService,
        outbox: Outbox,
        *,
        sandbox_allowed: bool = True,
    ) -> None:
        self._db = db
        self._clock = clock
        self._plugins = plugins
        self._ledger = ledger
        self._accounts = accounts
        self._outbox = outbox
        self._sandbox_allowed = sandbox_allowed
        self._sources: dict[str, PaymentSource] | None = None

    # ------------------------------------------------------------------ sources

    def sources(self) -> dict[str, PaymentSource]:
        """The registered payment sources by code (plugins are fixed once opened)."""
        if self._sources is None:
            found: dict[str, PaymentSource] = {}
            for source in _providers(self._plugins.hook.register_payment_sources, PaymentSource):
                if not isinstance(source.code, str) or source.code in found:
                    log.error("payment source code %r is invalid or taken; skipped", source.code)
                    continue
                found[source.code] = source
            self._sources = found
        return self._sources

    def source(self, code: str) -> PaymentSource:
        found = self.sources().get(code) if isinstance(code, str) else None
        if found is None:
            known = ", ".join(sorted(self.sources())) or "none installed"
            raise NotFound(
                f"no payment source {code!r} (known: {known})", code="unknown_payment_source"
            )
        return found

    @property
    def sandbox_allowed(self) -> bool:
        """Whether sandbox sources may serve: outside production, or explicitly allowed."""
        return self._sandbox_allowed

    def sandbox_sources(self) -> list[str]:
        return sorted(code for code, s in self.sources().items() if s.sandbox)

    def offered_sources(self) -> dict[str, PaymentSource]:
        """The sources customers may pick from: a refused sandbox is not offered."""
        return {
            code: s for code, s in self.sources().items() if self._sandbox_allowed or not s.sandbox
        }

    def _usable(self, code: str) -> PaymentSource:
        """The source ``code`` for moving money: a sandbox one only where it may serve,
        so a test card approves nothing in production, whatever path reaches it."""
        source = self.source(code)
        if source.sandbox and not self._sandbox_allowed:
            raise SandboxRefused(
                f"{source.name} is a sandbox: it moves no real money and is refused in "
                "production (POSTROOM_ALLOW_SANDBOX_PAYMENTS)"
            )
        return source

    # -------------------------------------------------------------- instruments

    def add_instrument(
        self,
        customer_number: str,
        source_code: str,
        fields: Mapping[str, str],
        *,
        self_service: bool = False,
    ) -> Instrument:
        """Validate ``fields`` with the source and store what it keeps.

        ``self_service`` is the customer acting on its own (the API): sources the data
        center grants (the credit line) are refused there (``source_not_self_service``).
        A credit line opens the customer's credit-line ledger account with its limit.
        """
        source = self._usable(source_code)
        if self_service and not source.self_service:
            raise PermissionDenied(
                f"{source.name} is granted by the data center", code="source_not_self_service"
            )
        if not isinstance(fields, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in fields.items()
        ):
            raise ValidationError("instrument fields are text", code="invalid_instrument")
        now = self._clock.now()

        def work(uow: UnitOfWork) -> Instrument:
            customer = self._customer(uow, customer_number)
            if source.currencies and customer.currency not in source.currencies:
                raise ValidationError(
                    f"{source.name} collects {', '.join(source.currencies)}, "
                    f"not the account's {customer.currency}",
                    code="currency_not_supported",
                )
            details = dict(
                source.validate_instrument({**fields, "currency": customer.currency}, now=now)
            )
            store = FundingStore(uow.connection)
            if source.kind == CREDIT_LINE_KIND:
                self._open_credit_line(uow, customer, store, source, details)
            instrument = Instrument(
                id="pi_" + uuid.uuid4().hex[:20],
                customer_number=customer.number,
                source=source.code,
                label=source.describe(details),
                details=details,
                status="active",
                created_at=now,
            )
            store.add_instrument(
                instrument.id, customer.id, source.code, instrument.label, details, now
            )
            store.clear_declines(customer.id, now)  # a declined auto-refill resumes
            uow.commit()
            return instrument

        return self._db.run(work)

    def _open_credit_line(
        self,
        uow: UnitOfWork,
        customer: CustomerAccount,
        store: FundingStore,
        source: PaymentSource,
        details: Mapping[str, str],
    ) -> None:
        if any(
            self.sources().get(i.source) is not None
            and self.source(i.source).kind == CREDIT_LINE_KIND
            for i in store.instruments(customer.id, customer.number)
        ):
            raise Conflict("the account has a credit line already", code="credit_line_exists")
        limit = int(details["limit_mills"])
        ledger = self._ledger.within(uow)
        account = ledger.account_by_code(credit_line_code(customer.number))
        if account is None:
            ledger.add_account(
                credit_line_code(customer.number),
                AccountKind.CREDIT_LINE,
                customer.currency,
                customer.id,
                limit,
                True,
                False,
            )
        elif account.credit_limit != limit:
            raise Conflict(
                f"the credit line's limit is {Money(account.credit_limit, account.currency)}",
                code="credit_limit_differs",
            )

    def instruments(self, customer_number: str) -> list[Instrument]:
        def work(uow: UnitOfWork) -> list[Instrument]:
            customer = self._customer(uow, customer_number)
            return FundingStore(uow.connection).instruments(customer.id, customer.number)

        return self._db.run(work, readonly=True)

    def overview(self, customer_number: str) -> FundingOverview:
        """The customer's payment instruments and auto-refill rule, in one read."""
        return self._db.run(
            lambda uow: self.overview_in(uow, self._customer(uow, customer_number)),
            readonly=True,
        )

    def overview_in(self, uow: UnitOfWork, customer: CustomerAccount) -> FundingOverview:
        """``overview`` inside the caller's unit of work."""
        store = FundingStore(uow.connection)
        return FundingOverview(
            store.instruments(customer.id, customer.number),
            store.rule(customer.id, customer.number),
        )

    def instrument(self, customer_number: str, instrument_id: str) -> Instrument:
        """The customer's instrument; another customer's is ``instrument_not_found``."""

        def work(uow: UnitOfWork) -> Instrument:
            customer = self._customer(uow, customer_number)
            return self._instrument(FundingStore(uow.connection), customer, instrument_id)

        return self._db.run(work, readonly=True)

    def instrument_owner(self, instrument_id: str) -> str:
        """The customer account number an instrument belongs to."""
        clean = check_instrument_id(instrument_id)

        def work(uow: UnitOfWork) -> str:
            owner = FundingStore(uow.connection).instrument_owner(clean)
            customer = None if owner is None else self._accounts.customer_by_id_in(uow, owner)
            if customer is None:
                raise NotFound(f"no payment instrument {clean!r}", code="instrument_not_found")
            return customer.number

        return self._db.run(work, readonly=True)

    def remove_instrument(self, customer_number: str, instrument_id: str) -> Instrument:
        """Stop using an instrument (its payments stay on record)."""

        def work(uow: UnitOfWork) -> Instrument:
            customer = self._customer(uow, customer_number)
            store = FundingStore(uow.connection)
            instrument = self._instrument(store, customer, instrument_id)
            if instrument.status != "active":
                return instrument
            rule = store.rule(customer.id, customer.number)
            if rule is not None and rule.instrument_id == instrument.id:
                raise Conflict(
                    "the auto-refill rule uses this instrument; change or turn it off first",
                    code="instrument_in_use",
                )
            if self.sources().get(instrument.source) and (
                self.source(instrument.source).kind == CREDIT_LINE_KIND
            ):
                line = self._ledger.within(uow).account_by_code(credit_line_code(customer.number))
                if line is not None and line.balances.balance < 0:
                    raise Conflict(
                        "the credit line has an unpaid balance", code="credit_line_outstanding"
                    )
            store.remove_instrument(instrument.id, self._clock.now())
            uow.commit()
            return attrs.evolve(instrument, status="removed")

        return self._db.run(work)

    # ----------------------------------------------------------------- payments

    def deposit(
        self, customer_number: str, instrument_id: str, amount: Money, idempotency_key: str
    ) -> Payment:
        """Collect ``amount`` from the instrument into the customer's postage account.

        Settled payments (card, credit-line draw) first pay any outstanding debt; a
        bank debit is ``pending`` until ``settle``. A declined payment is recorded as
        ``failed`` and raises ``PaymentDeclined`` with the source's code; the same key
        again answers the same payment (or the same refusal), never a second charge.
        """
        return self._collect(
            customer_number, instrument_id, amount, idempotency_key, PaymentKind.DEPOSIT
        )

    def manual_deposit(
        self,
        customer_number: str,
        amount: Money,
        transfer_id: str,
        *,
        staff: str,
        reason: str,
        reference: str = "",
    ) -> ManualDeposit:
        """A staff member credits funds received outside any payment source (a cheque,
        a wire, a goodwill credit): payment clearing -> postage account, and the audit
        row saying who, when, why and how much, committed together.

        The only way money enters a postage account other than a payment source's
        settled charge; no customer-facing route calls it. The same ``transfer_id``
        again answers the first deposit; with another body it is ``transfer_id_reused``.
        """
        clean_id = check_transfer_id(transfer_id)
        who, why = check_staff(staff), check_reason(reason)
        if not isinstance(amount, Money):
            raise ValidationError("amount is a Money", code="invalid_amount")
        check_amount(amount.mills)
        if not isinstance(reference, str) or len(reference) > 200 or not reference.isprintable():
            raise ValidationError(
                "reference is at most 200 printable characters", code="invalid_reference"
            )
        now = self._clock.now()

        def work(uow: UnitOfWork) -> ManualDeposit:
            customer = self._customer(uow, customer_number)
            store = FundingStore(uow.connection)
            deposit = ManualDeposit(
                clean_id, customer.number, amount, who, why, reference, created_at=now
            )
            existing = store.manual_deposit(clean_id)
            if existing is not None:
                if attrs.evolve(existing, created_at=now) != deposit:
                    raise Conflict(
                        f"transfer id {clean_id} was used for another deposit",
                        code="transfer_id_reused",
                    )
                return existing
            # the vault's deposit, checked under its lock, in this transaction with its audit
            self._ledger.within(uow).deposit(customer.number, amount, clean_id, reference=reference)
            store.add_manual_deposit(customer.id, deposit)
            uow.commit()
            log.info(
                "manual deposit %s of %s to %s by %s: %s",
                clean_id,
                amount,
                customer.number,
                who,
                why,
            )
            return deposit

        return self._run(work)

    def manual_deposits(
        self, customer_number: str | None = None, *, limit: int = 50, offset: int = 0
    ) -> list[ManualDeposit]:
        """The audit of manual deposits, newest first: one customer's, or everyone's."""

        def work(uow: UnitOfWork) -> list[ManualDeposit]:
            customer_id = (
                None if customer_number is None else self._customer(uow, customer_number).id
            )
            return FundingStore(uow.connection).manual_deposits(
                customer_id, limit=limit, offset=offset
            )

        return self._db.run(work, readonly=True)

    def pay_credit_line(
        self, customer_number: str, instrument_id: str, amount: Money, idempotency_key: str
    ) -> Payment:
        """Pay down the postage line of credit from another instrument."""
        return self._collect(
            customer_number, instrument_id, amount, idempotency_key, PaymentKind.CREDIT_PAYMENT
        )

    def payments(self, customer_number: str, *, limit: int = 50, offset: int = 0) -> list[Payment]:
        """The customer's payments, newest first."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ValidationError("limit is 1 to 1000", code="invalid_limit")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValidationError("offset is 0 or more", code="invalid_offset")

        def work(uow: UnitOfWork) -> list[Payment]:
            customer = self._customer(uow, customer_number)
            return FundingStore(uow.connection).payments(
                customer.id, customer.number, limit=limit, offset=offset
            )

        return self._db.run(work, readonly=True)

    def payment(self, customer_number: str, payment_id: str) -> Payment:
        """The customer's payment; another customer's is ``payment_not_found``."""

        def work(uow: UnitOfWork) -> Payment:
            customer = self._customer(uow, customer_number)
            found = None
            if isinstance(payment_id, str) and PAYMENT_ID.fullmatch(payment_id.strip()):
                found = FundingStore(uow.connection).payment(
                    payment_id.strip(), customer.id, customer.number
                )
            if found is None:
                raise NotFound(f"no payment {payment_id!r}", code="payment_not_found")
            return found

        return self._db.run(work, readonly=True)

    def settle(self, payment_id: str) -> Payment:
        """The bank confirmed a submitted debit: its pending credit is posted (now
        spendable), and it pays outstanding debts."""
        clean = check_payment_id(payment_id)

        def work(uow: UnitOfWork) -> tuple[Payment, str | None]:
            customer, payment = self._payment_for_update(uow, clean)
            if payment.status is PaymentStatus.SETTLED:
                return payment, None
            if payment.status is not PaymentStatus.PENDING or payment.transfer_id is None:
                raise Conflict(
                    f"payment {clean} is {payment.status.value}", code="payment_not_pending"
                )
            if self._on_hold(uow, payment.transfer_id):
                self._end_hold(uow, payment, Phase.POST)
            store = FundingStore(uow.connection)
            store.update_payment(clean, self._clock.now(), status=PaymentStatus.SETTLED.value)
            unlocked = self._recover(uow, customer, clean)
            uow.commit()
            return attrs.evolve(payment, status=PaymentStatus.SETTLED), unlocked

        payment, unlocked = self._run(work)
        self._outbox.deliver([unlocked] if unlocked else [])
        return payment

    def settle_due(self, *, limit: int = 1000) -> int:
        """The worker's job: settle pending payments older than their source's
        ``settlement_days`` (idempotent); returns how many settled now."""
        now = self._clock.now()
        candidates = self._db.run(
            lambda uow: FundingStore(uow.connection).submitted_before(now, limit), readonly=True
        )
        settled = 0
        for payment_id, code, created_at in candidates:
            source = self.sources().get(code)
            if source is None or created_at + timedelta(days=source.settlement_days) > now:
                continue
            try:
                self.settle(payment_id)
            except Conflict:  # failed or returned meanwhile
                continue
            settled += 1
        return settled

    def record_return(self, payment_id: str, reason: str) -> Payment:
        """The debtor's bank returned a debit (SEPA R-transaction, ACH return ``R01``...).

        Before settlement the pending credit is voided: nothing was spendable, so
        nothing is owed. After it, what the payment credited is taken back as far as the
        balance allows (never below zero); the rest stays as debt and locks refills
        until paid. The customer is told. Recording the same return again changes
        nothing.
        """
        return self._reverse(payment_id, reason, PaymentStatus.RETURNED)

    def record_failure(self, payment_id: str, reason: str) -> Payment:
        """A submitted debit failed before settling: its pending credit is voided."""
        return self._reverse(payment_id, reason, PaymentStatus.FAILED)

    def expected_settlement(self, payment: Payment) -> datetime | None:
        """When a pending payment is expected to settle (its source's settlement days
        after it was submitted); None once it is no longer pending."""
        source = self.sources().get(payment.source)
        if payment.status is not PaymentStatus.PENDING or source is None:
            return None
        return payment.created_at + timedelta(days=source.settlement_days)

    def expected_by(self, customer_number: str) -> datetime | None:
        """When the last of the customer's pending deposits is expected to settle
        (None when none is pending): the date of the postage account's pending credits."""

        def work(uow: UnitOfWork) -> list[Payment]:
            customer = self._customer(uow, customer_number)
            return FundingStore(uow.connection).pending_payments(customer.id, customer.number)

        pending = self._db.run(work, readonly=True)
        dates = [
            self.expected_settlement(p) for p in pending if p.kind != PaymentKind.CREDIT_PAYMENT
        ]
        return max((d for d in dates if d is not None), default=None)

    def debt(self, customer_number: str) -> Money:
        """What failed or returned payments still owe (zero when refills are unlocked)."""

        def work(uow: UnitOfWork) -> Money:
            customer = self._customer(uow, customer_number)
            debts = FundingStore(uow.connection).debts(customer.id, customer.number)
            return Money(sum(p.outstanding for p in debts), customer.currency)

        return self._db.run(work, readonly=True)

    def refills_locked(self, customer_number: str) -> bool:
        def work(uow: UnitOfWork) -> bool:
            return refills_locked(uow.connection, self._customer(uow, customer_number).id)

        return self._db.run(work, readonly=True)

    # -------------------------------------------------------- auto-refill rules

    def set_auto_refill(
        self,
        customer_number: str,
        threshold: Money,
        *,
        amount: Money | None = None,
        daily_cap: Money | None = None,
        instrument_id: str | None = None,
    ) -> AutoRefillRule:
        """Alert below ``threshold`` once per crossing and, with ``amount`` and an
        instrument, deposit ``amount`` (at most ``daily_cap`` a UTC day)."""

        def work(uow: UnitOfWork) -> AutoRefillRule:
            customer = self._customer(uow, customer_number)
            for value in (threshold, amount, daily_cap):
                if value is not None and value.currency != customer.currency:
                    raise ValidationError(
                        f"amount in {value.currency} but the account is in {customer.currency}",
                        code="currency_mismatch",
                    )
            store = FundingStore(uow.connection)
            if instrument_id is not None:
                instrument = self._instrument(store, customer, instrument_id)
                if instrument.status != "active":
                    raise Conflict("the instrument was removed", code="instrument_removed")
            old = store.rule(customer.id, customer.number)
            rule = AutoRefillRule(
                customer.number,
                threshold,
                amount,
                daily_cap,
                None if instrument_id is None else instrument_id.strip(),
                alerted=False if old is None else old.alerted,
            )
            if amount is not None:
                check_amount(amount.mills)
            store.save_rule(customer.id, rule, self._clock.now())
            self._ledger.within(uow).postage_account(customer.number, create=True)
            uow.commit()
            return rule

        return self._db.run(work)

    def auto_refill(self, customer_number: str) -> AutoRefillRule | None:
        def work(uow: UnitOfWork) -> AutoRefillRule | None:
            customer = self._customer(uow, customer_number)
            return FundingStore(uow.connection).rule(customer.id, customer.number)

        return self._db.run(work, readonly=True)

    def disable_auto_refill(self, customer_number: str) -> bool:
        """Remove the rule (and its alerts); False when there was none."""

        def work(uow: UnitOfWork) -> bool:
            customer = self._customer(uow, customer_number)
            removed = FundingStore(uow.connection).delete_rule(customer.id)
            uow.commit()
            return removed

        return self._db.run(work)

    def check_account(self, customer_number: str) -> CheckResult:
        """Run the customer's auto-refill rule and low-balance alert once (idempotent).

        Below the threshold: deposit the rule's amount unless refills are locked or the
        daily cap is reached; then, if still below, alert once for this crossing. At or
        above the threshold the alert re-arms.
        """
        now = self._clock.now()

        def read(
            uow: UnitOfWork,
        ) -> tuple[CustomerAccount, AutoRefillRule | None, int, int, bool]:
            customer = self._customer(uow, customer_number)
            store = FundingStore(uow.connection)
            rule = store.rule(customer.id, customer.number)
            refilled = store.auto_refilled(customer.id, *day_bounds(now))
            on_its_way = any(
                p.kind == PaymentKind.AUTO_REFILL
                for p in store.pending_payments(customer.id, customer.number)
            )
            return customer, rule, refilled, store.declined_auto_refills(customer.id), on_its_way

        customer, rule, refilled_today, declined, refill_pending = self._db.run(read, readonly=True)
        if rule is None:
            return CheckResult(skipped="no_rule")
        account = self._ledger.balance(customer.number)
        available = _available(account)
        refill: Payment | None = None
        skipped: str | None = None
        if available >= rule.threshold.mills:
            skipped = "above_threshold"
        elif not rule.refills:
            skipped = "alerts_only"
        elif self.refills_locked(customer.number):
            skipped = "refills_locked"
        elif refill_pending:
            # a bank-debit refill is on its way (it counts toward the daily cap too):
            # one at a time, whatever the balance does meanwhile
            skipped = "refill_pending"
        elif rule.suspended:
            skipped = "auto_refill_suspended"
        elif rule.retry_at is not None and now < rule.retry_at:
            skipped = "retry_scheduled"
        elif not rule.allows(refilled_today):
            skipped = "daily_cap"
        else:
            assert rule.amount is not None
            assert rule.instrument_id is not None
            b = account.balances
            # The key follows the account's state and the declines so far: two checks of
            # one state make one payment, and each try after a decline (a retry, or after
            # the customer resumed the rule) is a payment of its own.
            state = f"{account.id}:{b.debits_posted}:{b.debits_pending}:{b.credits_posted}"
            if declined:
                state += f":after{declined}"
            key = "auto-" + hashlib.sha256(state.encode()).hexdigest()[:40]
            try:
                refill = self._collect(
                    customer.number, rule.instrument_id, rule.amount, key, PaymentKind.AUTO_REFILL
                )
            except PaymentDeclined as error:
                log.warning("auto-refill of %s declined: %s", customer.number, error.message)
                skipped = error.code
                self._declined(customer, rule, error, now)
            except PostroomError as error:
                log.warning("auto-refill of %s failed: %s", customer.number, error.message)
                skipped = error.code
            available = _available(self._ledger.balance(customer.number))
        alerted = self._alert(customer, rule, available)
        return CheckResult(refill, alerted, skipped)

    def _declined(
        self,
        customer: CustomerAccount,
        rule: AutoRefillRule,
        error: PaymentDeclined,
        now: datetime,
    ) -> None:
        """Schedule the next try of a declined auto-refill, or suspend the rule after the
        last one; the customer hears of the first decline and of the suspension."""
        after = rule.after_decline(now)
        assert rule.amount is not None

        def work(uow: UnitOfWork) -> str | None:
            store = FundingStore(uow.connection)
            if not store.record_decline(customer.id, rule.declines, after, now):
                return None  # a concurrent check counted this decline
            told = None
            data = {
                "amount": str(rule.amount),
                "instrument_id": str(rule.instrument_id),
                "reason": error.code,
                "declines": str(after.declines),
            }
            if after.suspended:
                told = self._outbox.add_for_customer(
                    uow.connection,
                    customer.number,
                    "auto_refill_suspended",
                    "Auto-refill suspended: your payment method was declined",
                    f"The auto-refill of {rule.amount} for postage account {customer.number} "
                    f"was declined {after.declines} times in a row (last: {error.message}). "
                    "It is suspended until you add or update a payment method, change the "
                    "auto-refill rule or add funds yourself.",
                    data,
                )
            elif rule.declines == 0:
                assert after.retry_at is not None
                told = self._outbox.add_for_customer(
                    uow.connection,
                    customer.number,
                    "auto_refill_declined",
                    f"Auto-refill of {rule.amount} declined",
                    f"The auto-refill of {rule.amount} for postage account {customer.number} "
                    f"was declined ({error.message}). We will try again at "
                    f"{after.retry_at.isoformat()}; update your payment method if it "
                    "has changed.",
                    {**data, "retry_at": after.retry_at.isoformat()},
                )
            uow.commit()
            return told

        told = self._db.run(work)
        if told is not None:
            self._outbox.deliver([told])

    def check_postage_account(self, account_id: int) -> CheckResult:
        """``check_account`` for the owner of ledger account ``account_id`` (the debit
        listener's task)."""

        def work(uow: UnitOfWork) -> str | None:
            ledger = self._ledger.within(uow)
            code = ledger.codes_by_id([account_id]).get(account_id)
            account = None if code is None else ledger.account_by_code(code)
            if account is None or account.kind is not AccountKind.POSTAGE:
                return None
            if account.owner_id is None:
                return None
            customer = self._accounts.customer_by_id_in(uow, account.owner_id)
            return None if customer is None else customer.number

        number = self._db.run(work, readonly=True)
        if number is None:
            return CheckResult(skipped="not_a_postage_account")
        return self.check_account(number)

    def wants_check(self, account_id: int) -> bool:
        """Whether a debit of ledger account ``account_id`` calls for ``check_postage_account``
        (its owner has an auto-refill rule): the cheap test the debit listener makes."""

        def work(uow: UnitOfWork) -> bool:
            owner = self._ledger.within(uow).owner_of(account_id)
            return owner is not None and has_rule(uow.connection, owner)

        return self._db.run(work, readonly=True)

    # ------------------------------------------------ for payouts, in their unit of work

    def payment_in(self, uow: UnitOfWork, payment_id: str, customer: CustomerAccount) -> Payment:
        """The customer's payment ``payment_id`` (``payment_not_found`` if not theirs)."""
        found = FundingStore(uow.connection).payment(payment_id, customer.id, customer.number)
        if found is None:
            raise NotFound(f"no payment {payment_id!r}", code="payment_not_found")
        return found

    def settled_payments_in(
        self, uow: UnitOfWork, customer_id: int, kinds: tuple[str, ...], sources: list[str]
    ) -> list[tuple[str, int]]:
        """(payment id, amount) of the customer's settled, fully paid payments of
        ``kinds`` from ``sources``, newest first: what a payout may give back through."""
        return FundingStore(uow.connection).settled_payments(customer_id, kinds, sources)

    def instrument_details_in(self, uow: UnitOfWork, payment_id: str) -> str:
        """The stored instrument (JSON) payment ``payment_id`` was collected from."""
        return FundingStore(uow.connection).instrument_details(payment_id)

    def add_refunded_in(self, uow: UnitOfWork, payment_id: str, mills: int) -> None:
        """Count ``mills`` more (less, for a returned refund) as given back by the
        payment (its status follows: ``refunded`` when all of it went back)."""
        FundingStore(uow.connection).add_refunded(payment_id, mills, self._clock.now())

    def refills_locked_in(self, uow: UnitOfWork, customer_account_id: int) -> bool:
        """Whether refills of the customer's meters are locked (a returned or failed
        payment unpaid, 39 CFR 501.16), in the caller's unit of work: the meters' port."""
        return refills_locked(uow.connection, customer_account_id)

    def check_all(self) -> int:
        """The worker's periodic pass over every rule; returns how many refills it made."""

        def work(uow: UnitOfWork) -> list[str]:
            numbers = []
            for customer_id in FundingStore(uow.connection).rule_customers():
                customer = self._accounts.customer_by_id_in(uow, customer_id)
                if customer is not None:
                    numbers.append(customer.number)
            return numbers

        made = 0
        for number in self._db.run(work, readonly=True):
            try:
                result = self.check_account(number)
            except PostroomError as error:
                log.warning("auto-refill check of %s failed: %s", number, error.message)
                continue
            made += result.refill is not None
        return made

    def _alert(self, customer: CustomerAccount, rule: AutoRefillRule, available: int) -> bool:
        below = available < rule.threshold.mills

        balance = Money(available, customer.currency)

        def work(uow: UnitOfWork) -> str | None:
            changed = FundingStore(uow.connection).set_alerted(
                customer.id, below, self._clock.now()
            )
            told = None
            if changed and below:
                told = self._outbox.add_for_customer(
                    uow.connection,
                    customer.number,
                    "low_balance",
                    f"Postage balance low: {balance}",
                    f"The available balance of postage account {customer.number} is "
                    f"{balance}, below your alert threshold of {rule.threshold}. Add funds "
                    "to keep printing.",
                    {"available": str(balance), "threshold": str(rule.threshold)},
                )
            uow.commit()
            return told

        told = self._db.run(work)
        if told is None:
            return False
        self._outbox.deliver([told])
        return True

    # --------------------------------------------------------------- statements

    def statement(self, customer_number: str, month: str | None = None) -> Statement:
        """The credit line's statement of ``month`` (YYYY-MM; default the last closed
        month), produced and sent once, then always the stored one."""
        statement, _ = self._statement(customer_number, month)
        return statement

    def run_statements(self, month: str | None = None) -> int:
        """The worker's job: every credit line's statement of the last closed month;
        returns how many were produced now (0 on a second run)."""

        def work(uow: UnitOfWork) -> list[str]:
            numbers = []
            for line in self._ledger.within(uow).accounts():
                if line.kind is AccountKind.CREDIT_LINE and line.owner_id is not None:
                    customer = self._accounts.customer_by_id_in(uow, line.owner_id)
                    if customer is not None:
                        numbers.append(customer.number)
            return numbers

        made = 0
        for number in self._db.run(work, readonly=True):
            _, new = self._statement(number, month)
            made += new
        return made

    def _statement(self, customer_number: str, month: str | None) -> tuple[Statement, bool]:
        now = self._clock.now()
        year, mon = previous_month(now) if month is None else parse_month(month)
        # Compared as (year, month) first: the end of 9999-12 is past datetime's range.
        if (year, mon) >= (now.year, now.month):
            raise NotFound(
                f"{year:04d}-{mon:02d} is not over yet: statements cover closed months",
                code="month_not_closed",
            )
        start, end = month_bounds(year, mon)

        def work(uow: UnitOfWork) -> tuple[Statement, str | None]:
            customer = self._customer(uow, customer_number)
            store = FundingStore(uow.connection)
            label = f"{year:04d}-{mon:02d}"
            stored = store.statement(customer.id, label, customer.number)
            if stored is not None:
                return stored, None
            ledger = self._ledger.within(uow)
            line = ledger.account_by_code(credit_line_code(customer.number))
            if line is None:
                raise NotFound(
                    f"customer {customer.number} has no postage line of credit",
                    code="no_credit_line",
                )
            opening = draws = paid = 0
            for t in ledger.transfers_touching([line.id], until=end, phases=POSTING_PHASES):
                owed = t.amount if t.debit_account_id == line.id else -t.amount
                if t.created_at < start:
                    opening += owed
                elif owed > 0:
                    draws += owed
                else:
                    paid -= owed
            statement = Statement.build(
                customer.number,
                year,
                mon,
                customer.currency,
                opening,
                draws,
                paid,
                line.credit_limit,
                now,
            )
            store.add_statement(customer.id, statement)
            m = statement.to_json()
            told = self._outbox.add_for_customer(
                uow.connection,
                customer.number,
                "credit_statement",
                f"Postage line of credit statement {statement.month}",
                f"Statement {statement.month}: opening {_money(m['opening_balance'])}, draws "
                f"{_money(m['draws'])}, payments {_money(m['payments'])}, closing "
                f"{_money(m['closing_balance'])}. Minimum due {_money(m['minimum_due'])} "
                f"by {statement.due_date.isoformat()}.",
                {
                    "month": statement.month,
                    "closing_balance": _money(m["closing_balance"]),
                    "minimum_due": _money(m["minimum_due"]),
                    "due_date": statement.due_date.isoformat(),
                },
            )
            uow.commit()
            return statement, told

        statement, told = self._run(work)
        if told is None:
            return statement, False
        self._outbox.deliver([told])
        return statement, True

    # ---------------------------------------------------------------- internals

    def _collect(
        self,
        customer_number: str,
        instrument_id: str,
        amount: Money,
        idempotency_key: str,
        kind: str,
    ) -> Payment:
        key = check_key(idempotency_key)
        if not isinstance(amount, Money):
            raise ValidationError("amount is a Money", code="invalid_amount")
        check_amount(amount.mills)
        clean_instrument = check_instrument_id(instrument_id)
        body = _fingerprint(clean_instrument, amount.mills, amount.currency, kind)
        now = self._clock.now()

        def start(uow: UnitOfWork) -> tuple[Payment, Instrument, CustomerAccount]:
            customer = self._customer(uow, customer_number)
            store = FundingStore(uow.connection)
            existing = store.payment_by_key(customer.id, key, customer.number)
            if existing is not None:
                payment, stored_body = existing
                if stored_body != body:
                    raise Conflict(
                        f"idempotency key {key} was used for another payment",
                        code="idempotency_key_reused",
                        payment_id=payment.id,
                    )
                instrument = self._instrument(store, customer, payment.instrument_id)
                return payment, instrument, customer
            instrument = self._instrument(store, customer, clean_instrument)
            if instrument.status != "active":
                raise Conflict("the instrument was removed", code="instrument_removed")
            if amount.currency != customer.currency:
                raise ValidationError(
                    f"amount in {amount.currency} but the account is in {customer.currency}",
                    code="currency_mismatch",
                )
            source = self._usable(instrument.source)
            if source.currencies and amount.currency not in source.currencies:
                raise ValidationError(
                    f"{source.name} collects {', '.join(source.currencies)}",
                    code="currency_not_supported",
                )
            ledger = self._ledger.within(uow)
            if kind == PaymentKind.CREDIT_PAYMENT:
                if source.kind == CREDIT_LINE_KIND:
                    raise ValidationError(
                        "a credit line cannot pay itself", code="invalid_instrument"
                    )
                if ledger.account_by_code(credit_line_code(customer.number)) is None:
                    raise NotFound("no postage line of credit", code="no_credit_line")
            else:
                postage = self._ledger.within(uow).postage_account(customer.number, create=True)
                if self._accounts.is_closed_in(uow, postage.id):
                    raise Conflict(f"{postage.code} is closed", code="account_closed")
            if source.kind == CREDIT_LINE_KIND:
                line = ledger.account_by_code(credit_line_code(customer.number))
                if line is None or _available(line) < amount.mills:
                    raise InsufficientFunds(
                        "the draw exceeds what is left of the credit line",
                        code="credit_limit_exceeded",
                        available=str(
                            Money(0 if line is None else _available(line), amount.currency)
                        ),
                    )
            payment_id = "pm_" + uuid.uuid4().hex[:20]
            store.add_payment(payment_id, customer.id, instrument, kind, amount, key, body, now)
            created = store.payment(payment_id, customer.id, customer.number)
            assert created is not None
            uow.commit()
            return created, instrument, customer

        payment, instrument, customer = self._run(start)
        if payment.status is PaymentStatus.PENDING and not payment.source_reference:
            payment = self._charge(customer, payment, instrument)
        if payment.status is PaymentStatus.FAILED and payment.return_reason is None:
            raise PaymentDeclined(
                payment.failure_message or "the payment was declined",
                code=payment.failure_code or "payment_declined",
                payment_id=payment.id,
            )
        return payment

    def _charge(
        self, customer: CustomerAccount, payment: Payment, instrument: Instrument
    ) -> Payment:
        source = self._usable(instrument.source)
        try:
            result = source.charge(
                instrument.details,
                payment.amount.mills,
                payment.amount.currency,
                payment.id,
                now=self._clock.now(),
            )
        except PostroomError:
            raise
        except Exception as error:  # a plugin's own failure: retry later with the same key
            log.exception("payment source %s failed", source.code)
            raise PaymentSourceUnavailable(
                f"{source.name} could not be reached; retry with the same key",
                payment_id=payment.id,
            ) from error
        if not isinstance(result, PaymentResult):
            raise PaymentSourceUnavailable(
                f"{source.name} answered nonsense", payment_id=payment.id
            )
        try:
            done, unlocked = self._run(
                lambda uow: self._finish(uow, customer, payment, source, result)
            )
        except InsufficientFunds as error:  # the credit line ran out meanwhile
            failed = attrs.evolve(
                result,
                status=PaymentStatus.FAILED,
                failure_code="credit_limit_exceeded",
                message=error.message,
            )
            done, unlocked = self._run(
                lambda uow: self._finish(uow, customer, payment, source, failed)
            )
        self._outbox.deliver([unlocked] if unlocked else [])
        return done

    def _finish(
        self,
        uow: UnitOfWork,
        customer: CustomerAccount,
        payment: Payment,
        source: PaymentSource,
        result: PaymentResult,
    ) -> tuple[Payment, str | None]:
        """Record the source's answer; with the id of the "refills unlocked" message
        when this payment paid the last debt."""
        store = FundingStore(uow.connection)
        _, current = self._payment_for_update(uow, payment.id)  # serialises retries
        if current.source_reference:  # finished by a concurrent retry
            return current, None
        now = self._clock.now()
        if result.status is PaymentStatus.FAILED:
            store.update_payment(
                payment.id,
                now,
                status=PaymentStatus.FAILED.value,
                source_reference=result.reference[:120] or "-",
                failure_code=(result.failure_code or "payment_declined")[:60],
                failure_message=result.message[:300],
            )
            found = store.payment(payment.id, customer.id, customer.number)
            assert found is not None
            uow.commit()
            return found, None
        if result.status not in (PaymentStatus.PENDING, PaymentStatus.SETTLED):
            raise PaymentSourceUnavailable(
                f"{source.name} answered {result.status.value} to a charge", payment_id=payment.id
            )
        ledger = self._ledger.within(uow)
        if payment.kind == PaymentKind.CREDIT_PAYMENT:
            target = _must(ledger.account_by_code(credit_line_code(customer.number)))
        else:
            target = _must(ledger.account_by_code(postage_code(customer.number)))
        if source.kind == CREDIT_LINE_KIND:
            origin = _must(ledger.account_by_code(credit_line_code(customer.number)))
        else:
            origin = self._clearing(ledger, customer.currency)
        transfer_id = f"pay:{payment.id}"
        # A pending debit is money the bank has not paid yet: held as a pending credit
        # (not spendable) until settled. No timeout: only a settlement or a return
        # resolves it, never the expiry job.
        phase = Phase.PENDING if result.status is PaymentStatus.PENDING else Phase.POSTED
        self._ledger.within(uow).post(
            [
                TransferRequest(
                    id=transfer_id,
                    debit=origin.id,
                    credit=target.id,
                    amount=payment.amount.mills,
                    currency=payment.amount.currency,
                    phase=phase,
                    code=TransferCode.DEPOSIT,
                    reference=f"payment {payment.id} ({source.code})",
                )
            ],
        )
        store.update_payment(
            payment.id,
            now,
            status=result.status.value,
            source_reference=result.reference[:120] or "-",
            transfer_id=transfer_id,
        )
        if payment.kind != PaymentKind.CREDIT_PAYMENT:
            # money came in: a declined or suspended auto-refill resumes
            store.clear_declines(customer.id, now)
        unlocked = None
        if result.status is PaymentStatus.SETTLED:
            unlocked = self._recover(uow, customer, payment.id)
        found = store.payment(payment.id, customer.id, customer.number)
        assert found is not None
        uow.commit()
        return found, unlocked

    def _recover(self, uow: UnitOfWork, customer: CustomerAccount, payment_id: str) -> str | None:
        """Pay outstanding debts from the postage account after ``payment_id`` settled.
        When that cleared the last of them (refills unlock) the customer's message is
        queued in this transaction; its id is returned."""
        store = FundingStore(uow.connection)
        debts = store.debts(customer.id, customer.number)
        if not debts:
            return None
        ledger = self._ledger.within(uow)
        postage = _must(ledger.account_by_code(postage_code(customer.number)))
        postage = ledger.lock_accounts([postage.id])[postage.id]
        take = min(sum(p.outstanding for p in debts), max(0, postage.balances.available))
        if take <= 0:
            return None
        clearing = self._clearing(ledger, customer.currency)
        self._ledger.within(uow).post(
            [
                TransferRequest(
                    id=f"recover:{payment_id}",
                    debit=postage.id,
                    credit=clearing.id,
                    amount=take,
                    currency=customer.currency,
                    code=TransferCode.ADJUSTMENT,
                    reference="unpaid returned or failed payments: "
                    + ", ".join(p.id for p in debts)[:150],
                )
            ],
        )
        left, now = take, self._clock.now()
        for debt in debts:
            part = min(left, debt.outstanding)
            if part:
                store.update_payment(debt.id, now, outstanding=debt.outstanding - part)
            left -= part
        if take < sum(p.outstanding for p in debts):
            return None
        return self._outbox.add_for_customer(
            uow.connection,
            customer.number,
            "refills_unlocked",
            "Meter refills are available again",
            "Thank you: the returned payment is paid and your meters can be refilled again.",
            {},
        )

    def _reverse(self, payment_id: str, reason: str, status: PaymentStatus) -> Payment:
        clean = check_payment_id(payment_id)
        code = return_reason_code(reason)

        def work(uow: UnitOfWork) -> tuple[Payment, str | None]:
            customer, payment = self._payment_for_update(uow, clean)
            if payment.status is status and payment.return_reason == code:
                return payment, None  # recorded already
            if payment.status not in (PaymentStatus.PENDING, PaymentStatus.SETTLED) or (
                payment.transfer_id is None
            ):
                raise Conflict(
                    f"payment {clean} is {payment.status.value}; it cannot be {status.value} now",
                    code="payment_not_returnable",
                )
            if status is PaymentStatus.FAILED and payment.status is not PaymentStatus.PENDING:
                raise Conflict(
                    "a settled payment can be returned, not failed", code="payment_not_pending"
                )
            source = self.source(payment.source)
            if not source.return_codes:
                raise Conflict(
                    f"{source.name} payments are not returned", code="payment_not_returnable"
                )
            meaning = check_return_reason(source, code)
            if self._on_hold(uow, payment.transfer_id):
                return self._void(uow, customer, payment, status, code, meaning)
            ledger = self._ledger.within(uow)
            target_code = (
                credit_line_code(customer.number)
                if payment.kind == PaymentKind.CREDIT_PAYMENT
                else postage_code(customer.number)
            )
            target = _must(ledger.account_by_code(target_code))
            target = ledger.lock_accounts([target.id])[target.id]
            room = target.balances.available + (
                target.credit_limit if target.kind is AccountKind.CREDIT_LINE else 0
            )
            take = min(payment.amount.mills, max(0, room))
            if take > 0:
                self._ledger.within(uow).post(
                    [
                        TransferRequest(
                            id=f"return:{payment.id}",
                            debit=target.id,
                            credit=self._clearing(ledger, customer.currency).id,
                            amount=take,
                            currency=customer.currency,
                            code=TransferCode.ADJUSTMENT,
                            reference=f"payment {payment.id} {status.value}: {code}",
                        )
                    ],
                )
            FundingStore(uow.connection).update_payment(
                payment.id,
                self._clock.now(),
                status=status.value,
                return_reason=code,
                failure_code=code,
                failure_message=meaning[:300],
                outstanding=payment.amount.mills - take,
            )
            done = FundingStore(uow.connection).payment(payment.id, customer.id, customer.number)
            assert done is not None
            debt = Money(done.outstanding, done.amount.currency)
            locked = done.outstanding > 0
            told = self._outbox.add_for_customer(
                uow.connection,
                done.customer_number,
                f"payment_{status.value}",
                f"Your payment of {done.amount} was {status.value} ({done.return_reason})",
                f"Your bank {status.value} payment {done.id} of {done.amount}: "
                f"{done.failure_message} ({done.return_reason}). "
                + (
                    f"{debt} could not be taken back from your postage balance and is now "
                    f"due. Meter refills are locked until it is paid ({REFILL_LOCK_RULE})."
                    if locked
                    else "The amount was taken back from your postage balance."
                ),
                {
                    "payment_id": done.id,
                    "reason": str(done.return_reason),
                    "amount": str(done.amount),
                    "outstanding": str(debt),
                    "refills_locked": "yes" if locked else "no",
                },
            )
            uow.commit()
            return done, told

        payment, told = self._run(work)
        if told is not None:
            self._outbox.deliver([told])
            try:  # the balance fell: the low-balance alert may be due
                self.check_account(payment.customer_number)
            except PostroomError as error:
                log.warning("check after the return of %s failed: %s", payment.id, error.message)
        return payment

    def _on_hold(self, uow: UnitOfWork, transfer_id: str | None) -> bool:
        """Whether ``transfer_id`` is a pending credit nobody posted or voided yet (a
        debit booked before credits were held is posted already)."""
        if transfer_id is None:
            return False
        ledger = self._ledger.within(uow)
        found = ledger.transfers_by_id([transfer_id]).get(transfer_id)
        if found is None or found.phase is not Phase.PENDING:
            return False
        return transfer_id not in ledger.resolutions_of([transfer_id])

    def _end_hold(self, uow: UnitOfWork, payment: Payment, phase: Phase) -> None:
        """Post (the bank paid: ``settle:``) or void (it did not: ``void:``) the pending
        credit of a bank debit, once: the id makes a rerun a replay."""
        assert payment.transfer_id is not None
        prefix = "settle" if phase is Phase.POST else "void"
        request = TransferRequest(
            id=f"{prefix}:{payment.id}", phase=phase, pending_id=payment.transfer_id
        )
        self._ledger.within(uow).post([request])

    def _void(
        self,
        uow: UnitOfWork,
        customer: CustomerAccount,
        payment: Payment,
        status: PaymentStatus,
        code: str,
        meaning: str,
    ) -> tuple[Payment, str | None]:
        """A debit failed or returned before it settled: release its pending credit.
        Nothing of it could be spent, so there is no debt and refills stay unlocked."""
        self._end_hold(uow, payment, Phase.VOID)
        store = FundingStore(uow.connection)
        store.update_payment(
            payment.id,
            self._clock.now(),
            status=status.value,
            return_reason=code,
            failure_code=code,
            failure_message=meaning[:300],
            outstanding=0,
        )
        done = store.payment(payment.id, customer.id, customer.number)
        assert done is not None
        told = self._outbox.add_for_customer(
            uow.connection,
            done.customer_number,
            f"payment_{status.value}",
            f"Your payment of {done.amount} was {status.value} ({done.return_reason})",
            f"Your bank {status.value} payment {done.id} of {done.amount}: "
            f"{done.failure_message} ({done.return_reason}). It had not settled, so it "
            "was never added to your available postage balance and nothing is due.",
            {
                "payment_id": done.id,
                "reason": str(done.return_reason),
                "amount": str(done.amount),
                "outstanding": str(Money(0, done.amount.currency)),
                "refills_locked": "no",
            },
        )
        uow.commit()
        return done, told

    def _payment_for_update(
        self, uow: UnitOfWork, payment_id: str
    ) -> tuple[CustomerAccount, Payment]:
        store = FundingStore(uow.connection)
        owner = store.payment_owner(payment_id)
        customer = None if owner is None else self._accounts.customer_by_id_in(uow, owner)
        if customer is None:
            raise NotFound(f"no payment {payment_id!r}", code="payment_not_found")
        # Lock the customer's postage account first: returns, settlements and deposits
        # of one customer serialise on it (SQLite's BEGIN IMMEDIATE does so already).
        ledger = self._ledger.within(uow)
        postage = ledger.account_by_code(postage_code(customer.number))
        if postage is not None:
            ledger.lock_accounts([postage.id])
        payment = store.payment(payment_id, customer.id, customer.number)
        assert payment is not None
        return customer, payment

    def _instrument(
        self, store: FundingStore, customer: CustomerAccount, instrument_id: str
    ) -> Instrument:
        clean = instrument_id.strip() if isinstance(instrument_id, str) else ""
        found = None
        if INSTRUMENT_ID.fullmatch(clean):
            found = store.instrument(clean, customer.id, customer.number)
        if found is None:
            raise NotFound(f"no payment instrument {instrument_id!r}", code="instrument_not_found")
        return found

    def _clearing(self, ledger: LedgerSession, currency: str) -> LedgerAccount:
        return ledger.system_account(AccountKind.PAYMENT_CLEARING, currency)

    def _customer(self, uow: UnitOfWork, customer_number: str) -> CustomerAccount:
        return self._accounts.customer_in(uow, customer_number)

    def _run(self, work: Callable[[UnitOfWork], T]) -> T:
        try:
            return self._db.run(work)
        except IntegrityError:
            # Lost a race on a unique key (one idempotency key sent twice at once, or a
            # statement made twice): run again, now seeing the winner's rows.
            return self._db.run(work)


def sandbox_source_codes(plugins: PluginManager) -> list[str]:
    """The codes of the sandbox payment sources the plugins register (``postroom plugins``)."""
    found = _providers(plugins.hook.register_payment_sources, PaymentSource)
    return sorted(s.code for s in found if s.sandbox)


def _providers(hook: Any, protocol: Any) -> list[Any]:
    """What every plugin returns from registration ``hook``, one plugin at a time: a
    plugin whose hook raises, or whose objects do not implement ``protocol``, is logged
    and left out (a broken plugin is reported, not fatal)."""
    found: list[Any] = []
    for impl in hook.get_hookimpls():
        try:
            provided = impl.function() or []
        except Exception:
            log.exception("plugin %s failed in %s", impl.plugin_name, hook.name)
            continue
        for item in provided:
            if isinstance(item, protocol):
                found.append(item)
            else:
                log.error("plugin %s returned %r, not a %s", impl.plugin_name, item, protocol)
    return found


def _available(account: LedgerAccount) -> int:
    return account.balances.available + account.credit_limit


def _must(account: LedgerAccount | None) -> LedgerAccount:
    if account is None:
        raise NotFound("the ledger account is missing", code="account_not_found")
    return account


def _money(data: Mapping[str, str]) -> str:
    return f"{data['amount']} {data['currency']}"
