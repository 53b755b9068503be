"""Funding's use cases on in-memory fakes (no database, no I/O): deposits and their
replays, bank debits pending then settled, failed or returned, the debt a return leaves
and the refill lock, auto-refill declines and retries, manual deposits and their audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fakes_funding import FakeSource, FundingWorld, declined

from postroom.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from postroom.core.funding.service import (
    PaymentDeclined,
    PaymentSourceUnavailable,
    SandboxRefused,
)
from postroom.core.ledger.model import AccountKind, TransferRequest
from postroom.core.ledger.service import postage_code
from postroom.core.money import Money
from postroom.core.ports import PaymentStatus

ACME, RIVAL = "1000000001", "1000000002"
ACH_RETURNS = {"R01": "Insufficient funds", "R02": "Account closed"}


def usd(text: str) -> Money:
    return Money.parse(f"{text} USD")


@pytest.fixture
def world() -> FundingWorld:
    world = FundingWorld(
        FakeSource("card"),
        FakeSource(
            "ach", kind="bank_debit", default=PaymentStatus.PENDING, settlement_days=3,
            return_codes=ACH_RETURNS,
        ),
        FakeSource("test-card", sandbox=True),
    )  # fmt: skip
    world.customers.add(ACME)
    world.customers.add(RIVAL)
    return world


def instrument(world: FundingWorld, source: str = "card", number: str = ACME) -> str:
    return world.service.add_instrument(number, source, {"last4": "4242"}).id


# ------------------------------------------------------------------ deposits


def test_a_card_deposit_settles_into_the_postage_account(world):
    card = instrument(world)
    paid = world.service.deposit(ACME, card, usd("25"), "dep-1")
    assert (paid.status, paid.amount, paid.replayed) == (PaymentStatus.SETTLED, usd("25"), False)
    assert paid.transfer_id == f"pay:{paid.id}"
    assert world.available(ACME) == usd("25").mills
    assert world.service.payments(ACME) == [paid]


def test_the_same_key_again_answers_the_first_payment_as_a_replay_and_charges_once(world):
    card = instrument(world)
    first = world.service.deposit(ACME, card, usd("25"), "dep-1")
    again = world.service.deposit(ACME, card, usd("25"), "dep-1")
    assert again == first
    assert again.replayed
    assert len(world.sources["card"].charges) == 1
    assert world.available(ACME) == usd("25").mills


def test_the_same_key_with_another_body_is_a_conflict_and_writes_nothing(world):
    card = instrument(world)
    first = world.service.deposit(ACME, card, usd("25"), "dep-1")
    with pytest.raises(Conflict) as reused:
        world.service.deposit(ACME, card, usd("26"), "dep-1")
    assert reused.value.code == "idempotency_key_reused"
    assert reused.value.details["payment_id"] == first.id
    assert world.service.payments(ACME) == [first]


def test_a_replay_resumes_a_payment_whose_charge_was_never_answered(world):
    card = instrument(world)
    world.sources["card"].unreachable = True
    with pytest.raises(PaymentSourceUnavailable):
        world.service.deposit(ACME, card, usd("10"), "dep-1")
    [waiting] = world.service.payments(ACME)
    assert (waiting.status, waiting.source_reference) == (PaymentStatus.PENDING, "")
    world.sources["card"].unreachable = False
    done = world.service.deposit(ACME, card, usd("10"), "dep-1")
    assert (done.id, done.status, done.replayed) == (waiting.id, PaymentStatus.SETTLED, True)
    assert world.available(ACME) == usd("10").mills


def test_a_declined_card_is_recorded_failed_and_refused_with_its_code(world):
    card = instrument(world)
    world.sources["card"].answers.append(declined("insufficient_funds"))
    with pytest.raises(PaymentDeclined) as refused:
        world.service.deposit(ACME, card, usd("25"), "dep-1")
    assert refused.value.code == "insufficient_funds"
    [failed] = world.service.payments(ACME)
    assert (failed.status, failed.failure_code) == (PaymentStatus.FAILED, "insufficient_funds")
    assert world.available(ACME) == 0
    with pytest.raises(PaymentDeclined):  # the same key: the same refusal, no new charge
        world.service.deposit(ACME, card, usd("25"), "dep-1")
    assert len(world.sources["card"].charges) == 1


def test_another_customers_instrument_and_payment_are_not_found(world):
    card = instrument(world)
    paid = world.service.deposit(ACME, card, usd("5"), "dep-1")
    with pytest.raises(NotFound) as deposit:
        world.service.deposit(RIVAL, card, usd("5"), "dep-1")
    with pytest.raises(NotFound) as payment:
        world.service.payment(RIVAL, paid.id)
    with pytest.raises(NotFound) as remove:
        world.service.remove_instrument(RIVAL, card)
    assert {deposit.value.code, remove.value.code} == {"instrument_not_found"}
    assert payment.value.code == "payment_not_found"
    assert world.service.payments(RIVAL) == []


@pytest.mark.parametrize(
    ("amount", "key", "code"),
    [
        (Money(0, "USD"), "dep-1", "invalid_amount"),
        (Money.parse("5 EUR"), "dep-1", "currency_mismatch"),
        (Money.parse("5 USD"), "has space", "invalid_idempotency_key"),
    ],
)
def test_bad_deposits_are_refused_with_a_stable_code_and_write_nothing(world, amount, key, code):
    card = instrument(world)
    with pytest.raises(ValidationError) as refused:
        world.service.deposit(ACME, card, amount, key)
    assert refused.value.code == code
    assert world.service.payments(ACME) == []


def test_a_closed_postage_account_takes_no_deposit(world):
    card = instrument(world)
    postage = world.ledger.postage_account(ACME, create=True)
    world.customers.closed_accounts.add(postage.id)
    with pytest.raises(Conflict) as closed:
        world.service.deposit(ACME, card, usd("5"), "dep-1")
    assert closed.value.code == "account_closed"
    assert world.service.payments(ACME) == []
    assert world.sources["card"].charges == {}


def test_a_sandbox_source_moves_no_money_where_it_is_not_allowed():
    world = FundingWorld(FakeSource("test-card", sandbox=True), sandbox_allowed=False)
    world.customers.add(ACME)
    with pytest.raises(SandboxRefused):
        world.service.add_instrument(ACME, "test-card", {})
    assert world.service.offered_sources() == {}


def test_a_customer_cannot_grant_itself_a_credit_line():
    world = FundingWorld(FakeSource("line", kind="credit_line", self_service=False))
    world.customers.add(ACME)
    with pytest.raises(PermissionDenied) as refused:
        world.service.add_instrument(ACME, "line", {"limit_mills": "500000"}, self_service=True)
    assert refused.value.code == "source_not_self_service"
    assert world.service.instruments(ACME) == []


# ------------------------------------------------- bank debits: pending, settled, returned


def test_a_bank_debit_is_pending_and_not_spendable_until_it_settles(world):
    ach = instrument(world, "ach")
    pending = world.service.deposit(ACME, ach, usd("100"), "dep-1")
    assert pending.status is PaymentStatus.PENDING
    assert world.available(ACME) == 0
    assert world.service.expected_by(ACME) == pending.created_at + timedelta(days=3)
    assert world.service.settle_due() == 0  # not due yet
    world.clock.advance(timedelta(days=3))
    assert world.service.settle_due() == 1
    assert world.service.payment(ACME, pending.id).status is PaymentStatus.SETTLED
    assert world.available(ACME) == usd("100").mills
    assert world.service.settle_due() == 0  # idempotent


def test_a_debit_returned_before_settling_is_voided_and_leaves_no_debt(world):
    ach = instrument(world, "ach")
    pending = world.service.deposit(ACME, ach, usd("100"), "dep-1")
    returned = world.service.record_return(pending.id, "r01")
    assert (returned.status, returned.return_reason) == (PaymentStatus.RETURNED, "R01")
    assert returned.outstanding == 0
    assert world.ledger.transfers[f"void:{pending.id}"].pending_id == pending.transfer_id
    assert world.available(ACME) == 0
    assert not world.service.refills_locked(ACME)
    assert world.outbox.kinds(ACME) == ["payment_returned"]
    assert world.service.record_return(pending.id, "R01") == returned  # recorded already
    with pytest.raises(Conflict) as late:
        world.service.settle(pending.id)
    assert late.value.code == "payment_not_pending"


def test_a_return_after_settling_takes_back_what_it_can_and_locks_refills_for_the_rest(world):
    ach, card = instrument(world, "ach"), instrument(world)
    debit = world.service.deposit(ACME, ach, usd("100"), "dep-1")
    world.service.settle(debit.id)
    postage = world.ledger.postage_account(ACME)
    fees = world.ledger.system_account(AccountKind.FEES, "USD")
    world.ledger.post([TransferRequest("print-1", postage.id, fees.id, usd("70").mills, "USD")])
    returned = world.service.record_return(debit.id, "R01")
    assert returned.outstanding == usd("70").mills
    assert world.available(ACME) == 0
    assert world.service.refills_locked(ACME)
    assert world.service.debt(ACME) == usd("70")
    # the next settled payment pays the debt first and lifts the lock
    world.service.deposit(ACME, card, usd("100"), "dep-2")
    assert world.available(ACME) == usd("30").mills
    assert not world.service.refills_locked(ACME)
    assert world.outbox.kinds(ACME) == ["payment_returned", "refills_unlocked"]


def test_a_card_payment_cannot_be_returned_nor_a_settled_one_failed(world):
    card, ach = instrument(world), instrument(world, "ach")
    paid = world.service.deposit(ACME, card, usd("5"), "dep-1")
    with pytest.raises(Conflict) as card_return:
        world.service.record_return(paid.id, "R01")
    assert card_return.value.code == "payment_not_returnable"
    debit = world.service.deposit(ACME, ach, usd("5"), "dep-2")
    world.service.settle(debit.id)
    with pytest.raises(Conflict) as failed:
        world.service.record_failure(debit.id, "R01")
    assert failed.value.code == "payment_not_pending"
    with pytest.raises(ValidationError):
        world.service.record_return(debit.id, "R99")  # not one of the source's codes


# -------------------------------------------------------- auto-refill: decline and retry


def test_a_declined_auto_refill_is_retried_after_an_hour_then_refills(world):
    card = instrument(world)
    world.service.set_auto_refill(ACME, usd("50"), amount=usd("100"), instrument_id=card)
    world.sources["card"].answers.append(declined())
    first = world.service.check_account(ACME)
    assert (first.refill, first.skipped, first.alerted) == (None, "card_declined", True)
    rule = world.service.auto_refill(ACME)
    assert (rule.declines, rule.retry_at) == (1, world.clock.now() + timedelta(hours=1))
    assert world.outbox.kinds(ACME) == ["auto_refill_declined", "low_balance"]
    assert world.service.check_account(ACME).skipped == "retry_scheduled"
    world.clock.advance(timedelta(hours=1))
    retried = world.service.check_account(ACME)
    assert retried.refill is not None
    assert retried.refill.status is PaymentStatus.SETTLED
    assert world.available(ACME) == usd("100").mills
    assert world.service.auto_refill(ACME).declines == 0  # money came in: resumed
    assert len(world.sources["card"].charges) == 2  # each try is a payment of its own


def test_an_auto_refill_declined_on_every_retry_is_suspended_until_the_customer_acts(world):
    card = instrument(world)
    world.service.set_auto_refill(ACME, usd("50"), amount=usd("100"), instrument_id=card)
    for wait in (0, 1, 4, 24):
        world.clock.advance(timedelta(hours=wait))
        world.sources["card"].answers.append(declined())
        assert world.service.check_account(ACME).skipped == "card_declined"
    assert world.service.auto_refill(ACME).suspended
    assert world.service.check_account(ACME).skipped == "auto_refill_suspended"
    assert world.outbox.kinds(ACME).count("auto_refill_suspended") == 1
    instrument(world)  # a new payment method resumes it
    assert world.service.check_account(ACME).refill is not None


def test_auto_refill_stops_at_the_daily_cap_and_while_refills_are_locked(world):
    card = instrument(world)
    world.service.set_auto_refill(
        ACME, usd("50"), amount=usd("40"), daily_cap=usd("40"), instrument_id=card
    )
    assert world.service.check_account(ACME).refill is not None
    assert world.service.check_account(ACME).skipped == "daily_cap"
    assert world.service.check_all() == 0
    world.clock.advance(timedelta(days=1))
    world.funding.update_payment(
        world.service.payments(ACME)[0].id, world.clock.now(), outstanding=5
    )
    assert world.service.check_account(ACME).skipped == "refills_locked"


def test_the_low_balance_alert_goes_once_per_crossing(world):
    world.service.set_auto_refill(ACME, usd("50"))
    assert world.service.check_account(ACME).alerted
    assert not world.service.check_account(ACME).alerted
    world.ledger.deposit(ACME, usd("60"), "topup")
    assert world.service.check_account(ACME).skipped == "above_threshold"  # re-armed
    assert world.outbox.kinds(ACME) == ["low_balance"]


# ------------------------------------------------------------- manual deposits (staff)


def test_a_manual_deposit_credits_the_account_with_its_audit_once(world):
    done = world.service.manual_deposit(
        ACME, usd("500"), "wire-1", staff="agent:ana", reason="wire received 2026-03-01"
    )
    assert world.available(ACME) == usd("500").mills
    assert world.service.manual_deposits(ACME) == [done]
    assert (done.staff, done.reason) == ("agent:ana", "wire received 2026-03-01")
    again = world.service.manual_deposit(
        ACME, usd("500"), "wire-1", staff="agent:ana", reason="wire received 2026-03-01"
    )
    assert again == done
    assert world.available(ACME) == usd("500").mills
    with pytest.raises(Conflict) as reused:
        world.service.manual_deposit(
            ACME, usd("501"), "wire-1", staff="agent:ana", reason="wire received 2026-03-01"
        )
    assert reused.value.code == "transfer_id_reused"
    assert world.service.manual_deposits() == [done]


def test_a_manual_deposit_needs_a_staff_member_and_a_reason(world):
    with pytest.raises(ValidationError) as no_staff:
        world.service.manual_deposit(ACME, usd("5"), "wire-2", staff="", reason="cheque 0042")
    with pytest.raises(ValidationError) as no_reason:
        world.service.manual_deposit(ACME, usd("5"), "wire-2", staff="agent:ana", reason="")
    assert (no_staff.value.code, no_reason.value.code) == ("invalid_staff", "invalid_reason")
    assert world.service.manual_deposits() == []
    assert world.available(ACME) == 0


def test_a_manual_deposit_into_a_closed_account_rolls_back_with_its_audit(world):
    postage = world.ledger.postage_account(ACME, create=True)
    world.customers.closed_accounts.add(postage.id)
    with pytest.raises(Conflict):
        world.service.manual_deposit(
            ACME, usd("5"), "wire-3", staff="agent:ana", reason="cheque received at the desk"
        )
    assert world.service.manual_deposits() == []
    assert world.ledger.account_by_code(postage_code(ACME)).balances.credits_posted == 0
