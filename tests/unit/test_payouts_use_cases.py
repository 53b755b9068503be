"""The payouts' use cases on in-memory fakes (no database, no I/O): a closed account's
money paid back through the deposits it came from, newest first; refused and unreachable
refunds; what no deposit can take back; a payout's credit transfer returned."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fakes_funding import FakeSource, declined
from fakes_payouts import PayoutWorld

from postroom.core.errors import Conflict, NotFound
from postroom.core.ledger.model import AccountKind, TransferRequest
from postroom.core.money import Money
from postroom.core.payouts.model import PayoutPartStatus, PayoutStatus
from postroom.core.ports import PaymentStatus

ACME, RIVAL = "1000000001", "1000000002"


def usd(text: str) -> Money:
    return Money.parse(f"{text} USD")


@pytest.fixture
def world() -> PayoutWorld:
    world = PayoutWorld(
        FakeSource("card"),
        FakeSource(
            "ach", kind="bank_debit", default=PaymentStatus.PENDING, settlement_days=3,
            return_codes={"R02": "Account closed"},
        ),
    )  # fmt: skip
    world.customers.add(ACME)
    world.customers.add(RIVAL)
    return world


def pay(world: PayoutWorld, source: str, amount: str, key: str) -> str:
    world.clock.advance(timedelta(minutes=1))  # newest first: one deposit a minute
    instrument = world.service.add_instrument(ACME, source, {"last4": "4242"}).id
    payment = world.service.deposit(ACME, instrument, usd(amount), key)
    if payment.status is PaymentStatus.PENDING:
        world.service.settle(payment.id)
    return payment.id


def refunds_payable(world: PayoutWorld) -> int:
    return world.ledger.system_account(AccountKind.REFUNDS, "USD").balances.balance


def test_a_run_pays_back_the_newest_deposits_first_and_tells_the_customer_once(world):
    oldest = pay(world, "card", "30", "dep-1")
    middle = pay(world, "ach", "40", "dep-2")
    newest = pay(world, "card", "50", "dep-3")
    world.close(ACME)  # 120 payable
    assert world.payouts.payable(ACME) == usd("120")
    refund = world.payouts.run(ACME)
    assert refund is not None
    assert refund.status is PayoutStatus.PAID
    assert [(p.payment_id, p.amount, p.status) for p in refund.parts] == [
        (newest, usd("50"), PayoutPartStatus.SETTLED),
        (middle, usd("40"), PayoutPartStatus.PENDING),  # a bank credit transfer on its way
        (oldest, usd("30"), PayoutPartStatus.SETTLED),
    ]
    assert refunds_payable(world) == 0
    assert world.service.payment(ACME, newest).status is PaymentStatus.REFUNDED
    assert world.outbox.kinds(ACME) == ["payout_sent"]
    assert world.payouts.payable(ACME) == usd("0")
    assert world.payouts.run(ACME) is None  # nothing payable: a second run does nothing
    assert world.payouts.run_all() == 0
    assert world.payouts.payouts(ACME) == [refund]
    world.clock.advance(timedelta(days=3))  # the credit transfer did not come back
    assert world.payouts.settle_due() == 1
    assert world.payouts.payout(ACME, refund.id).parts[1].status is PayoutPartStatus.SETTLED


def test_a_run_gives_back_only_what_is_payable_from_the_newest_deposit(world):
    older = pay(world, "card", "30", "dep-1")
    newer = pay(world, "card", "50", "dep-2")
    postage = world.ledger.postage_account(ACME)
    fees = world.ledger.system_account(AccountKind.FEES, "USD")
    world.ledger.post([TransferRequest("print-1", postage.id, fees.id, usd("60").mills, "USD")])
    world.close(ACME)  # 20 left
    refund = world.payouts.run(ACME)
    assert [(p.payment_id, p.amount) for p in refund.parts] == [(newer, usd("20"))]
    assert world.service.payment(ACME, older).refunded == 0


def test_money_no_deposit_can_take_back_is_left_to_an_agent(world):
    pay(world, "card", "30", "dep-1")
    world.service.manual_deposit(
        ACME, usd("20"), "wire-1", staff="agent:ana", reason="wire 0042 received"
    )
    world.close(ACME)  # 50 payable, 30 through the card
    refund = world.payouts.run(ACME)
    assert (refund.status, refund.paid, refund.left) == (PayoutStatus.PARTIAL, 30_000, 20_000)
    [left] = world.payouts.unmatched()
    assert (left.customer_number, left.amount) == (ACME, usd("20"))
    assert refunds_payable(world) == usd("20").mills


def test_a_refused_refund_books_nothing_and_is_not_asked_again(world):
    payment = pay(world, "card", "30", "dep-1")
    world.close(ACME)
    world.sources["card"].answers.append(declined("charge_too_old"))
    refund = world.payouts.run(ACME)
    [part] = refund.parts
    assert (part.status, part.failure_code) == (PayoutPartStatus.FAILED, "charge_too_old")
    assert refund.status is PayoutStatus.PARTIAL
    assert refunds_payable(world) == usd("30").mills
    assert world.service.payment(ACME, payment).refunded == 0
    assert world.payouts.run(ACME) is None  # the payment is an agent's now
    assert world.payouts.unmatched()[0].amount == usd("30")


def test_a_run_the_source_could_not_answer_is_resumed_with_the_same_keys(world):
    pay(world, "card", "30", "dep-1")
    world.close(ACME)
    world.sources["card"].unreachable = True
    waiting = world.payouts.run(ACME)
    assert waiting.status is PayoutStatus.IN_PROGRESS
    assert waiting.parts[0].status is PayoutPartStatus.REQUESTED
    assert refunds_payable(world) == usd("30").mills
    world.sources["card"].unreachable = False
    done = world.payouts.run(ACME)
    assert (done.id, done.status) == (waiting.id, PayoutStatus.PAID)
    assert list(world.sources["card"].refunds) == [waiting.parts[0].id]


def test_an_open_account_is_not_paid_out(world):
    pay(world, "card", "30", "dep-1")
    with pytest.raises(Conflict) as open_account:
        world.payouts.run(ACME)
    assert open_account.value.code == "account_open"
    assert world.payouts.payouts(ACME) == []


def test_another_customers_payout_is_not_found(world):
    pay(world, "card", "30", "dep-1")
    world.close(ACME)
    refund = world.payouts.run(ACME)
    with pytest.raises(NotFound) as other:
        world.payouts.payout(RIVAL, refund.id)
    assert other.value.code == "payout_not_found"
    assert world.payouts.payouts(RIVAL) == []


def test_a_returned_payout_transfer_is_payable_again_for_an_agent(world):
    debit = pay(world, "ach", "40", "dep-1")
    world.close(ACME)
    refund = world.payouts.run(ACME)
    [part] = refund.parts
    returned = world.payouts.record_return(part.id, "r02")
    assert returned.status is PayoutStatus.PARTIAL
    assert (returned.parts[0].status, returned.parts[0].failure_code) == (
        PayoutPartStatus.RETURNED,
        "R02",
    )
    assert refunds_payable(world) == usd("40").mills
    assert world.service.payment(ACME, debit).status is PaymentStatus.SETTLED
    assert world.service.payment(ACME, debit).refunded == 0
    assert world.outbox.kinds(ACME) == ["payout_sent", "payout_returned"]
    assert world.payouts.record_return(part.id, "R02") == returned  # recorded already
    assert world.outbox.kinds(ACME) == ["payout_sent", "payout_returned"]
    assert world.payouts.run(ACME) is None  # not paid to that payment again
    assert world.payouts.unmatched()[0].amount == usd("40")


def test_a_card_refund_cannot_be_returned_and_an_unknown_one_is_not_found(world):
    pay(world, "card", "30", "dep-1")
    world.close(ACME)
    [part] = world.payouts.run(ACME).parts
    with pytest.raises(Conflict) as card:
        world.payouts.record_return(part.id, "R02")
    assert card.value.code == "payout_not_returnable"
    with pytest.raises(NotFound) as unknown:
        world.payouts.record_return("po_unknown-1", "R02")
    assert unknown.value.code == "payout_refund_not_found"
    assert refunds_payable(world) == 0
