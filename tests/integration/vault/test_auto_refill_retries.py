"""A declined auto-refill is tried again after 1 h, 4 h and 24 h by the clock, then
suspended until the customer acts; never two charges for one try, within the daily cap;
on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from postroom.core.accounts.model import CustomerAccount
from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.money import Money
from postroom.core.ports import Notification, PaymentResult, PaymentStatus
from postroom.frontends.serialise.funding import auto_refill_json
from postroom.plugins.payments.card import SandboxCard

DECLINED = {"number": "4000000000000002", "exp_month": "12", "exp_year": "2030", "cvc": "123"}
GOOD = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2030", "cvc": "123"}


def usd(text: str) -> Money:
    return Money.parse(f"{text} USD")


class TiredCard(SandboxCard):
    """A card whose issuer declines the first ``declines`` charges (funds arrive later);
    it keeps what it collected per idempotency key, as the issuer's books would."""

    code = "tired-card"

    def __init__(self) -> None:
        self.declines = 0
        self.collected: dict[str, int] = {}

    def charge(self, instrument, amount_mills, currency, key, *, now):
        if self.declines:
            self.declines -= 1
            return PaymentResult(
                f"ch-{key}", PaymentStatus.FAILED, "insufficient_funds", "not enough funds"
            )
        self.collected.setdefault(key, amount_mills)
        return PaymentResult(f"ch-{key}", PaymentStatus.SETTLED)


@pytest.fixture
def card() -> TiredCard:
    return TiredCard()


@pytest.fixture
def told() -> list[Notification]:
    return []


@pytest.fixture
def pr(postroom_with_source: Any, card: TiredCard, told: list) -> Iterator[Postroom]:
    with postroom_with_source(card, told) as postroom:
        yield postroom


@pytest.fixture
def customer(pr: Postroom) -> CustomerAccount:
    return pr.accounts.create("Acme Mailroom", "US", "USD")


def kinds(told: list[Notification]) -> list[str]:
    return [n.kind for n in told if n.kind.startswith("auto_refill")]


def test_a_declined_auto_refill_is_retried_after_1_4_and_24_hours_then_suspended(
    pr: Postroom, customer: CustomerAccount, clock: FrozenClock, told: list[Notification]
) -> None:
    number = customer.number
    declined = pr.funding.add_instrument(number, "sandbox-card", DECLINED)
    pr.funding.set_auto_refill(number, usd("50"), amount=usd("100"), instrument_id=declined.id)
    tries = []
    for wait in (None, timedelta(hours=1), timedelta(hours=4), timedelta(hours=24)):
        if wait is not None:
            clock.advance(wait - timedelta(seconds=1))
            early = pr.funding.check_account(number)
            assert early.skipped == "retry_scheduled"
            assert early.refill is None
            clock.advance(timedelta(seconds=1))
        result = pr.funding.check_account(number)
        assert result.skipped == "card_declined"
        assert pr.jobs.run_now("vault.auto-refill") == 0  # the same instant: no new try
        tries.append(clock.now())
    payments = pr.funding.payments(number)
    assert len(payments) == 4  # one payment a try, each with its own key
    assert len({p.idempotency_key for p in payments}) == 4
    assert {p.status for p in payments} == {PaymentStatus.FAILED}
    rule = pr.funding.auto_refill(number)
    assert rule is not None
    assert (rule.declines, rule.suspended, rule.retry_at) == (4, True, None)
    assert kinds(told) == ["auto_refill_declined", "auto_refill_suspended"]
    assert told[0].data["retry_at"] == (tries[0] + timedelta(hours=1)).isoformat()

    clock.advance(timedelta(days=3))
    assert pr.funding.check_account(number).skipped == "auto_refill_suspended"
    assert pr.jobs.run_now("vault.auto-refill") == 0
    assert len(pr.funding.payments(number)) == 4
    assert auto_refill_json(pr.funding.auto_refill(number))["suspended"] is True

    # the customer adds a working card and points the rule at it: auto-refill resumes
    good = pr.funding.add_instrument(number, "sandbox-card", GOOD)
    assert pr.funding.auto_refill(number).suspended is False
    pr.funding.set_auto_refill(number, usd("50"), amount=usd("100"), instrument_id=good.id)
    assert pr.funding.check_account(number).refill is not None
    assert pr.ledger.balance(number).balances.balance == 100_000
    assert pr.ledger.verify().ok


def test_a_retry_that_goes_through_charges_once_and_counts_against_the_daily_cap(
    pr: Postroom, customer: CustomerAccount, clock: FrozenClock, card: TiredCard
) -> None:
    number = customer.number
    tired = pr.funding.add_instrument(number, "tired-card", GOOD)
    pr.funding.set_auto_refill(
        number, usd("50"), amount=usd("60"), daily_cap=usd("100"), instrument_id=tired.id
    )
    card.declines = 1
    assert pr.funding.check_account(number).skipped == "insufficient_funds"
    clock.advance(timedelta(hours=1))
    retried = pr.funding.check_account(number)
    assert retried.refill is not None
    assert pr.funding.check_account(number).skipped == "above_threshold"
    assert pr.jobs.run_now("vault.auto-refill") == 0
    assert list(card.collected.values()) == [60_000]  # one charge for the retry
    rule = pr.funding.auto_refill(number)
    assert (rule.declines, rule.retry_at, rule.suspended) == (0, None, False)
    # spend below the threshold: the next refill would pass the daily cap of 100
    held = pr.ledger.reserve_postage(number, usd("20"), "label-1")
    pr.ledger.post_postage(number, held.id, "label-1-printed")
    assert pr.funding.check_account(number).skipped == "daily_cap"
    assert list(card.collected.values()) == [60_000]


def test_a_manual_deposit_resumes_a_declined_auto_refill(
    pr: Postroom, customer: CustomerAccount, clock: FrozenClock, card: TiredCard
) -> None:
    number = customer.number
    tired = pr.funding.add_instrument(number, "tired-card", GOOD)
    good = pr.funding.add_instrument(number, "sandbox-card", GOOD)
    pr.funding.set_auto_refill(number, usd("50"), amount=usd("60"), instrument_id=tired.id)
    card.declines = 1
    assert pr.funding.check_account(number).skipped == "insufficient_funds"
    assert pr.funding.auto_refill(number).retry_at == clock.now() + timedelta(hours=1)
    pr.funding.deposit(number, good.id, usd("10"), "by-hand")
    rule = pr.funding.auto_refill(number)
    assert (rule.declines, rule.retry_at) == (0, None)
    assert pr.funding.check_account(number).refill is not None  # at once, not in an hour
    assert pr.ledger.balance(number).balances.balance == 70_000
