"""Funding through payment sources, on SQLite and PostgreSQL: deposits, failures and
returns, the refill lock, auto-refill with its daily cap, low-balance alerts and the
credit line's statement."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from postroom.core.accounts.model import CustomerAccount
from postroom.core.app import Postroom
from postroom.core.errors import Conflict, InsufficientFunds, Locked, NotFound, ValidationError
from postroom.core.funding.service import PaymentDeclined, PaymentSourceUnavailable
from postroom.core.hookspecs import hookimpl
from postroom.core.ledger.model import AccountKind
from postroom.core.money import Money
from postroom.core.ports import Notification, PaymentResult, PaymentStatus

ACH = {
    "routing_number": "111000025",
    "account_number": "000123456789",
    "account_type": "checking",
    "account_holder": "Acme Inc.",
}
CARD = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2030", "cvc": "123"}


def usd(text: str) -> Money:
    return Money.parse(f"{text} USD")


class RecordingNotifier:
    """A notifier plugin that keeps what it was asked to send."""

    name = "recorder"
    channels = ("email",)

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def send(self, notification: Notification) -> None:
        self.sent.append(notification)

    def kinds(self) -> list[str]:
        return [n.kind for n in self.sent]


class RecorderPlugin:
    def __init__(self, notifier: RecordingNotifier) -> None:
        self.notifier = notifier

    @hookimpl
    def register_notifiers(self) -> list[RecordingNotifier]:
        return [self.notifier]


@pytest.fixture
def outbox() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def pr(open_postroom: Any, outbox: RecordingNotifier) -> Iterator[Postroom]:
    with open_postroom(("recorder", RecorderPlugin(outbox))) as postroom:
        yield postroom


@pytest.fixture
def customer(pr: Postroom) -> CustomerAccount:
    return pr.accounts.create("Acme Mailroom", "US", "USD")


def balance(pr: Postroom, customer: CustomerAccount) -> int:
    return pr.ledger.balance(customer.number).balances.balance


def test_the_built_in_sources_are_registered(pr):
    assert {"sepa-debit", "ach-debit", "sandbox-card", "postage-credit-line"} <= set(
        pr.funding.sources()
    )


def test_instruments_are_validated_listed_and_removed(pr, customer):
    card = pr.funding.add_instrument(customer.number, "sandbox-card", CARD)
    assert card.label == "Visa ...4242 exp 12/2030"
    assert "4242424242424242" not in str(card.details)
    bank = pr.funding.add_instrument(customer.number, "ach-debit", ACH)
    assert {i.id for i in pr.funding.instruments(customer.number)} == {card.id, bank.id}
    pr.funding.remove_instrument(customer.number, bank.id)
    assert [i.id for i in pr.funding.instruments(customer.number)] == [card.id]
    with pytest.raises(ValidationError) as bad:
        pr.funding.add_instrument(
            customer.number, "ach-debit", {**ACH, "routing_number": "111000026"}
        )
    assert bad.value.code == "invalid_routing_number"
    with pytest.raises(NotFound) as unknown:
        pr.funding.add_instrument(customer.number, "paypal", {})
    assert unknown.value.code == "unknown_payment_source"
    with pytest.raises(ValidationError) as euro_only:
        pr.funding.add_instrument(customer.number, "sepa-debit", {})
    assert euro_only.value.code == "currency_not_supported"
    assert len(pr.funding.instruments(customer.number)) == 1


def test_card_deposit_settles_through_the_ledger_and_is_idempotent(pr, customer):
    card = pr.funding.add_instrument(customer.number, "sandbox-card", CARD)
    payment = pr.funding.deposit(customer.number, card.id, usd("50.00"), "dep-1")
    assert payment.status is PaymentStatus.SETTLED
    assert payment.transfer_id == f"pay:{payment.id}"
    assert balance(pr, customer) == 50_000
    again = pr.funding.deposit(customer.number, card.id, usd("50.00"), "dep-1")
    assert again.id == payment.id
    assert balance(pr, customer) == 50_000
    with pytest.raises(Conflict) as reused:
        pr.funding.deposit(customer.number, card.id, usd("60.00"), "dep-1")
    assert reused.value.code == "idempotency_key_reused"
    clearing = pr.ledger.account("payment_clearing:USD")
    assert clearing.balances.balance == -50_000
    assert pr.ledger.verify().ok


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("4000000000000002", "card_declined"),
        ("4000000000009995", "insufficient_funds"),
        ("4000000000000069", "expired_card"),
    ],
)
def test_a_declined_card_records_a_failed_payment_and_moves_nothing(pr, customer, number, code):
    card = pr.funding.add_instrument(customer.number, "sandbox-card", {**CARD, "number": number})
    with pytest.raises(PaymentDeclined) as declined:
        pr.funding.deposit(customer.number, card.id, usd("50.00"), "dep-1")
    assert declined.value.code == code
    (failed,) = pr.funding.payments(customer.number)
    assert (failed.status, failed.failure_code, failed.outstanding) == (
        PaymentStatus.FAILED,
        code,
        0,
    )
    with pytest.raises(PaymentDeclined):  # the same key answers the same refusal
        pr.funding.deposit(customer.number, card.id, usd("50.00"), "dep-1")
    assert len(pr.funding.payments(customer.number)) == 1
    assert balance(pr, customer) == 0
    assert not pr.funding.refills_locked(customer.number)


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        (Money(0, "USD"), "invalid_amount"),
        (Money(-5000, "USD"), "invalid_amount"),
        (Money(5000, "EUR"), "currency_mismatch"),
    ],
)
def test_bad_deposits_write_nothing(pr, customer, amount, code):
    card = pr.funding.add_instrument(customer.number, "sandbox-card", CARD)
    with pytest.raises(ValidationError) as bad:
        pr.funding.deposit(customer.number, card.id, amount, "dep-1")
    assert bad.value.code == code
    assert pr.funding.payments(customer.number) == []
    assert pr.ledger.verify().transfers_checked == 0


def test_unknown_or_foreign_instrument_is_not_found(pr, customer):
    rival = pr.accounts.create("Rival", "US", "USD")
    theirs = pr.funding.add_instrument(rival.number, "sandbox-card", CARD)
    for instrument in (theirs.id, "pi_00000000000000000000", "nonsense"):
        with pytest.raises(NotFound) as missing:
            pr.funding.deposit(customer.number, instrument, usd("5"), "dep-1")
        assert missing.value.code == "instrument_not_found"
    assert pr.funding.payments(customer.number) == []


def test_return_reverses_locks_refills_tells_the_customer_and_a_payment_unlocks(
    pr, customer, outbox
):
    bank = pr.funding.add_instrument(customer.number, "ach-debit", ACH)
    card = pr.funding.add_instrument(customer.number, "sandbox-card", CARD)
    debit = pr.funding.deposit(customer.number, bank.id, usd("100.00"), "dep-bank")
    assert debit.status is PaymentStatus.PENDING
    assert balance(pr, customer) == 0  # on its way, not spendable before the bank pays
    assert pr.ledger.balance(customer.number).balances.credits_pending == 100_000
    pr.funding.settle(debit.id)
    assert balance(pr, customer) == 100_000
    pr.meters.funds.register_meter("PB-1", customer.number, "USPS")
    pr.meters.funds.refill("PB-1", usd("70.00"), "r1")  # the money is in the meter now

    returned = pr.funding.record_return(debit.id, "R01")
    assert returned.status is PaymentStatus.RETURNED
    assert returned.return_reason == "R01"
    assert balance(pr, customer) == 0  # never below zero
    assert returned.outstanding == 70_000  # what could not be taken back
    assert pr.funding.debt(customer.number) == usd("70.00")
    assert pr.funding.refills_locked(customer.number)
    with pytest.raises(Locked) as locked:
        pr.meters.funds.refill("PB-1", usd("1.00"), "r2")
    assert locked.value.code == "refills_locked"
    assert (
        pr.meters.funds.refill("PB-1", usd("70.00"), "r1").transfer.id == "r1"
    )  # a replay answers
    (told,) = [n for n in outbox.sent if n.kind == "payment_returned"]
    assert told.recipient == f"customer:{customer.number}"
    assert told.data["refills_locked"] == "yes"
    assert "R01" in told.subject
    assert "70.000 USD" in told.body or "70.00 USD" in told.body

    assert pr.funding.record_return(debit.id, "R01") == returned  # recorded once
    assert outbox.kinds().count("payment_returned") == 1

    pr.funding.deposit(customer.number, card.id, usd("30.00"), "dep-card-1")
    assert pr.funding.debt(customer.number) == usd("40.00")  # partly paid: still locked
    assert pr.funding.refills_locked(customer.number)
    assert balance(pr, customer) == 0
    pr.funding.deposit(customer.number, card.id, usd("50.00"), "dep-card-2")
    assert pr.funding.debt(customer.number) == usd("0")
    assert not pr.funding.refills_locked(customer.number)
    assert balance(pr, customer) == 10_000
    assert "refills_unlocked" in outbox.kinds()
    pr.meters.funds.refill("PB-1", usd("5.00"), "r3")
    report = pr.ledger.verify()
    assert report.ok, report.problems
    assert pr.ledger.account("payment_clearing:USD").balances.balance == -80_000


def test_return_fully_taken_back_leaves_no_lock(pr, customer, outbox):
    bank = pr.funding.add_instrument(customer.number, "ach-debit", ACH)
    debit = pr.funding.deposit(customer.number, bank.id, usd("20.00"), "d")
    pr.funding.set_auto_refill(customer.number, usd("10.00"))  # alerts only
    returned = pr.funding.record_return(debit.id, "R02")
    assert returned.outstanding == 0
    assert balance(pr, customer) == 0
    assert not pr.funding.refills_locked(customer.number)
    assert outbox.kinds() == ["payment_returned", "low_balance"]
    assert outbox.sent[0].data["refills_locked"] == "no"


def test_returns_are_checked(pr, customer):
    bank = pr.funding.add_instrument(customer.number, "ach-debit", ACH)
    card = pr.funding.add_instrument(customer.number, "sandbox-card", CARD)
    debit = pr.funding.deposit(customer.number, bank.id, usd("20.00"), "d")
    with pytest.raises(ValidationError) as bad_reason:
        pr.funding.record_return(debit.id, "AM04")  # a SEPA code for an ACH debit
    assert bad_reason.value.code == "invalid_reason"
    paid = pr.funding.deposit(customer.number, card.id, usd("5.00"), "c")
    with pytest.raises(Conflict) as card_return:
        pr.funding.record_return(paid.id, "R01")
    assert card_return.value.code == "payment_not_returnable"
    with pytest.raises(NotFound):
        pr.funding.record_return("pm_00000000000000000000", "R01")
    assert balance(pr, customer) == 5_000  # the debit is still on its way


def test_failure_of_a_pending_debit_and_settlement(pr, customer, outbox):
    bank = pr.funding.add_instrument(customer.number, "ach-debit", ACH)
    first = pr.funding.deposit(customer.number, bank.id, usd("40.00"), "d1")
    with pytest.raises(InsufficientFunds):  # not spendable before it settles
        pr.ledger.reserve_postage(customer.number, usd("15.00"), "print-0")
    failed = pr.funding.record_failure(first.id, "R03")
    assert failed.status is PaymentStatus.FAILED
    assert failed.outstanding == 0  # voided: nothing of it was spent
    assert not pr.funding.refills_locked(customer.number)
    assert "payment_failed" in outbox.kinds()
    assert pr.ledger.balance(customer.number).balances.credits_pending == 0
    # a debit returned after it settled leaves what was spent as debt
    settled_first = pr.funding.deposit(customer.number, bank.id, usd("40.00"), "d0")
    pr.funding.settle(settled_first.id)
    pr.ledger.reserve_postage(customer.number, usd("15.00"), "print-1")
    assert pr.funding.record_return(settled_first.id, "R01").outstanding == 15_000
    assert pr.funding.refills_locked(customer.number)
    second = pr.funding.deposit(customer.number, bank.id, usd("20.00"), "d2")
    assert pr.funding.refills_locked(customer.number)  # pending does not pay the debt
    settled = pr.funding.settle(second.id)
    assert settled.status is PaymentStatus.SETTLED
    assert not pr.funding.refills_locked(customer.number)
    assert pr.funding.settle(second.id).status is PaymentStatus.SETTLED
    with pytest.raises(Conflict):
        pr.funding.record_failure(second.id, "R01")  # settled: it can be returned, not fail
    assert pr.ledger.verify().ok


def test_auto_refill_with_daily_cap_and_one_alert_per_crossing(pr, customer, outbox, clock):
    card = pr.funding.add_instrument(customer.number, "sandbox-card", CARD)
    pr.funding.deposit(customer.number, card.id, usd("100.00"), "seed")
    pr.funding.set_auto_refill(
        customer.number,
        usd("50.00"),
        amount=usd("40.00"),
        daily_cap=usd("80.00"),
        instrument_id=card.id,
    )
    pr.meters.funds.register_meter("PB-1", customer.number, "USPS")
    pr.meters.funds.refill("PB-1", usd("60.00"), "r1")  # 40 left: below 50, auto-refill runs
    assert balance(pr, customer) == 80_000
    assert sorted(p.kind for p in pr.funding.payments(customer.number)) == [
        "auto_refill",
        "deposit",
    ]
    assert "low_balance" not in outbox.kinds()  # the refill brought it back up

    assert pr.funding.check_account(customer.number).refill is None  # idempotent
    assert pr.jobs.run_now("vault.auto-refill") == 0

    pr.meters.funds.refill("PB-1", usd("40.00"), "r2")  # 40 left: second refill, cap reached
    assert balance(pr, customer) == 80_000
    pr.meters.funds.refill("PB-1", usd("40.00"), "r3")  # 40 left: over the cap, alert instead
    assert balance(pr, customer) == 40_000
    assert outbox.kinds().count("low_balance") == 1
    pr.meters.funds.refill("PB-1", usd("10.00"), "r4")  # still below: no second alert
    pr.jobs.run_now("vault.auto-refill")
    assert outbox.kinds().count("low_balance") == 1
    assert balance(pr, customer) == 30_000

    clock.advance(timedelta(days=1))  # a new day: the cap starts over
    assert pr.jobs.run_now("vault.auto-refill") == 1
    assert balance(pr, customer) == 70_000  # back above: the alert re-arms
    pr.meters.funds.refill("PB-1", usd("30.00"), "r5")  # 40 left: refill again
    assert balance(pr, customer) == 80_000
    pr.meters.funds.refill("PB-1", usd("40.00"), "r6")  # cap reached for this day
    assert outbox.kinds().count("low_balance") == 2
    assert pr.ledger.verify().ok


def test_alert_only_rule_and_turning_it_off(pr, customer, outbox):
    card = pr.funding.add_instrument(customer.number, "sandbox-card", CARD)
    pr.funding.deposit(customer.number, card.id, usd("30.00"), "seed")
    rule = pr.funding.set_auto_refill(customer.number, usd("25.00"))
    assert not rule.refills
    pr.ledger.reserve_postage(customer.number, usd("10.00"), "p1")
    assert outbox.kinds().count("low_balance") == 1
    assert len(pr.funding.payments(customer.number)) == 1  # no refill was made
    assert pr.funding.disable_auto_refill(customer.number)
    assert pr.funding.auto_refill(customer.number) is None
    with pytest.raises(ValidationError) as bad:
        pr.funding.set_auto_refill(customer.number, usd("25.00"), amount=usd("10.00"))
    assert bad.value.code == "invalid_auto_refill"
    pr.funding.set_auto_refill(
        customer.number, usd("25.00"), amount=usd("10.00"), instrument_id=card.id
    )
    with pytest.raises(Conflict) as in_use:
        pr.funding.remove_instrument(customer.number, card.id)
    assert in_use.value.code == "instrument_in_use"


def test_credit_line_draws_payments_and_an_idempotent_statement(pr, customer, outbox, clock):
    line = pr.funding.add_instrument(customer.number, "postage-credit-line", {"limit": "500.00"})
    assert pr.ledger.account(f"credit_line:{customer.number}").kind is AccountKind.CREDIT_LINE
    with pytest.raises(Conflict):
        pr.funding.add_instrument(customer.number, "postage-credit-line", {"limit": "500.00"})
    card = pr.funding.add_instrument(customer.number, "sandbox-card", CARD)
    clock.set(clock.now().replace(day=1, hour=10) + timedelta(days=31))  # 2026-04-01
    pr.funding.deposit(customer.number, line.id, usd("300.00"), "draw-1")
    assert balance(pr, customer) == 300_000
    with pytest.raises(InsufficientFunds) as over:
        pr.funding.deposit(customer.number, line.id, usd("250.00"), "draw-2")
    assert over.value.code == "credit_limit_exceeded"
    pr.funding.pay_credit_line(customer.number, card.id, usd("100.00"), "pay-1")
    clock.advance(timedelta(days=20))
    pr.funding.deposit(customer.number, line.id, usd("50.00"), "draw-3")
    clock.set(clock.now().replace(month=5, day=2))

    assert pr.jobs.run_now("vault.credit-statements") == 1
    assert pr.jobs.run_now("vault.credit-statements") == 0  # one per account and month
    statement = pr.funding.statement(customer.number, "2026-04")
    assert (statement.opening, statement.draws, statement.payments, statement.closing) == (
        0,
        350_000,
        100_000,
        250_000,
    )
    assert statement.minimum_due == 25_000
    assert statement.due_date.isoformat() == "2026-05-21"
    assert outbox.kinds().count("credit_statement") == 1
    march = pr.funding.statement(customer.number, "2026-03")
    assert march.closing == 0
    with pytest.raises(NotFound) as open_month:
        pr.funding.statement(customer.number, "2026-05")
    assert open_month.value.code == "month_not_closed"
    with pytest.raises(Conflict):
        pr.funding.remove_instrument(customer.number, line.id)
    assert pr.ledger.verify().ok


class FlakyGateway:
    """A third-party source: unreachable on its first charge, then remembers each key."""

    code = "flaky-gateway"
    name = "Flaky gateway"
    kind = "card"
    currencies = ("USD",)
    self_service = True
    return_codes: dict[str, str] = {}
    settlement_days = 0
    sandbox = False

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.collected: dict[str, int] = {}

    def validate_instrument(self, instrument, *, now):
        return {"token": instrument.get("token", "t")}

    def describe(self, instrument):
        return "flaky"

    def authorize(self, instrument, amount_mills, currency, idempotency_key, *, now):
        raise NotImplementedError

    def charge(self, instrument, amount_mills, currency, idempotency_key, *, now):
        self.calls.append(idempotency_key)
        if len(self.calls) == 1:
            raise ConnectionError("gateway timed out")
        self.collected.setdefault(idempotency_key, amount_mills)
        return PaymentResult(f"ref-{idempotency_key}", PaymentStatus.SETTLED)

    def refund(
        self, instrument, payment_reference, amount_mills, currency, idempotency_key, *, now
    ):
        raise NotImplementedError


class FlakyPlugin:
    def __init__(self, gateway: FlakyGateway) -> None:
        self.gateway = gateway

    @hookimpl
    def register_payment_sources(self) -> list[FlakyGateway]:
        return [self.gateway]


def test_a_retry_after_an_unreachable_source_resumes_and_never_charges_twice(open_postroom):
    gateway = FlakyGateway()
    with open_postroom(("flaky", FlakyPlugin(gateway))) as pr:
        customer = pr.accounts.create("Acme", "US", "USD")
        instrument = pr.funding.add_instrument(customer.number, "flaky-gateway", {})
        with pytest.raises(PaymentSourceUnavailable):
            pr.funding.deposit(customer.number, instrument.id, usd("12.00"), "k1")
        (waiting,) = pr.funding.payments(customer.number)
        assert (waiting.status, waiting.source_reference) == (PaymentStatus.PENDING, "")
        assert balance(pr, customer) == 0
        done = pr.funding.deposit(customer.number, instrument.id, usd("12.00"), "k1")
        assert done.id == waiting.id
        assert done.status is PaymentStatus.SETTLED
        assert pr.funding.deposit(customer.number, instrument.id, usd("12.00"), "k1") == done
        assert gateway.calls == [done.id, done.id]  # the payment id is the source's key
        assert gateway.collected == {done.id: 12_000}
        assert balance(pr, customer) == 12_000


def test_one_key_sent_at_once_from_several_threads_makes_one_payment(pr, customer):
    card = pr.funding.add_instrument(customer.number, "sandbox-card", CARD)
    barrier = threading.Barrier(4)

    def pay(_: int) -> str:
        barrier.wait()
        return pr.funding.deposit(customer.number, card.id, usd("10.00"), "same-key").id

    with ThreadPoolExecutor(4) as pool:
        ids = set(pool.map(pay, range(4)))
    assert len(ids) == 1
    assert len(pr.funding.payments(customer.number)) == 1
    assert balance(pr, customer) == 10_000
    assert pr.ledger.verify().ok


class BrokenPlugin:
    """Registers a source hook that raises and a notifier that always fails."""

    @hookimpl
    def register_payment_sources(self):
        raise RuntimeError("broken plugin")

    @hookimpl
    def register_notifiers(self):
        class Failing:
            name = "failing"
            channels = ("email",)

            def send(self, notification):
                raise ConnectionError("smtp down")

        return [Failing(), "not a notifier"]


def test_a_broken_plugin_is_left_out_and_other_notifiers_still_hear(open_postroom, outbox):
    with open_postroom(("broken", BrokenPlugin()), ("recorder", RecorderPlugin(outbox))) as pr:
        assert "ach-debit" in pr.funding.sources()
        customer = pr.accounts.create("Acme", "US", "USD")
        bank = pr.funding.add_instrument(customer.number, "ach-debit", ACH)
        debit = pr.funding.deposit(customer.number, bank.id, usd("5.00"), "k")
        pr.funding.record_return(debit.id, "R01")
        assert outbox.kinds() == ["payment_returned"]


def test_the_worker_settles_bank_debits_after_their_settlement_days(pr, customer, clock, outbox):
    bank = pr.funding.add_instrument(customer.number, "ach-debit", ACH)
    first = pr.funding.deposit(customer.number, bank.id, usd("30.00"), "d1")
    pr.funding.settle(first.id)
    pr.meters.funds.register_meter("PB-1", customer.number, "USPS")
    pr.meters.funds.refill("PB-1", usd("30.00"), "r1")
    pr.funding.record_return(first.id, "R01")
    assert pr.funding.debt(customer.number) == usd("30.00")
    second = pr.funding.deposit(customer.number, bank.id, usd("50.00"), "d2")
    clock.advance(timedelta(days=2, hours=23))
    assert pr.jobs.run_now("vault.settle-payments") == 0  # ACH: 3 days
    assert pr.funding.refills_locked(customer.number)
    clock.advance(timedelta(hours=1))
    assert pr.jobs.run_now("vault.settle-payments") == 1
    assert pr.jobs.run_now("vault.settle-payments") == 0
    assert pr.funding.payment(customer.number, second.id).status is PaymentStatus.SETTLED
    assert not pr.funding.refills_locked(customer.number)
    assert balance(pr, customer) == 20_000
    assert outbox.kinds()[-1] == "refills_unlocked"
    assert pr.funding.payment(customer.number, first.id).status is PaymentStatus.RETURNED


def test_a_closed_account_takes_no_more_payments(pr, customer):
    card = pr.funding.add_instrument(customer.number, "sandbox-card", CARD)
    pr.funding.deposit(customer.number, card.id, usd("10.00"), "k1")
    pr.refunds.close_account(customer.number)
    with pytest.raises(Conflict) as closed:
        pr.funding.deposit(customer.number, card.id, usd("10.00"), "k2")
    assert closed.value.code == "account_closed"
    assert len(pr.funding.payments(customer.number)) == 1
    assert pr.funding.deposit(customer.number, card.id, usd("10.00"), "k1").status is (
        PaymentStatus.SETTLED
    )  # a replay from before the closing still answers
