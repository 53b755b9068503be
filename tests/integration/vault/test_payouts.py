"""Payouts, on SQLite and PostgreSQL: a closed account's refunds payable goes back through
the payment sources it came from, newest deposits first, never more than a deposit gave,
booked in the ledger, resumed after a crash without refunding twice; what no deposit can
take back stays payable for an agent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from postroom.core.accounts.model import CustomerAccount
from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.errors import Conflict, NotFound, ValidationError
from postroom.core.ledger.model import AccountKind
from postroom.core.money import Money
from postroom.core.payouts.model import PayoutPartStatus, PayoutStatus
from postroom.core.ports import Notification, PaymentResult, PaymentStatus
from postroom.frontends.cli import cli
from postroom.frontends.serialise.funding import payment_json
from postroom.frontends.serialise.payouts import payout_json
from postroom.plugins.payments.card import SandboxCard

CARD = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2030", "cvc": "123"}
ACH = {
    "routing_number": "111000025",
    "account_number": "000123456789",
    "account_type": "checking",
    "account_holder": "Acme Inc.",
}


def usd(text: str) -> Money:
    return Money.parse(f"{text} USD")


class GatewayCard(SandboxCard):
    """The sandbox card behind a gateway whose refund endpoint can be down or refuse:
    it counts the refunds it made per idempotency key, as the gateway's books would."""

    code = "gateway-card"

    def __init__(self) -> None:
        self.down = 0
        self.refuse = False
        self.refunded: dict[str, int] = {}

    def refund(self, instrument, payment_reference, amount_mills, currency, key, *, now):
        if self.down:
            self.down -= 1
            raise ConnectionError("gateway timed out")
        if self.refuse:
            return PaymentResult(
                f"re-{key}", PaymentStatus.FAILED, "charge_disputed", "the charge is disputed"
            )
        answer = super().refund(instrument, payment_reference, amount_mills, currency, key, now=now)
        self.refunded.setdefault(key, amount_mills)
        return answer


@pytest.fixture
def gateway() -> GatewayCard:
    return GatewayCard()


@pytest.fixture
def told() -> list[Notification]:
    return []


@pytest.fixture
def pr(postroom_with_source: Any, gateway: GatewayCard, told: list) -> Iterator[Postroom]:
    with postroom_with_source(gateway, told) as postroom:
        yield postroom


@pytest.fixture
def customer(pr: Postroom) -> CustomerAccount:
    return pr.accounts.create("Acme Mailroom", "US", "USD")


def payable_account(pr: Postroom) -> int:
    return pr.ledger.system_account(AccountKind.REFUNDS, "USD").balances.balance


def test_a_closed_account_is_paid_back_newest_deposits_first_and_the_rest_waits_for_an_agent(
    pr: Postroom, customer: CustomerAccount, clock: FrozenClock, told: list[Notification]
) -> None:
    number = customer.number
    card = pr.funding.add_instrument(number, "sandbox-card", CARD)
    bank = pr.funding.add_instrument(number, "ach-debit", ACH)
    older = pr.funding.deposit(number, card.id, usd("30.00"), "c1")
    clock.advance(timedelta(hours=1))
    newer = pr.funding.deposit(number, card.id, usd("20.00"), "c2")
    clock.advance(timedelta(hours=1))
    debit = pr.funding.deposit(number, bank.id, usd("40.00"), "a1")
    clock.advance(timedelta(days=4))
    assert pr.funding.settle_due() == 1
    pr.ledger.deposit(number, usd("5.00"), "cash-at-the-counter")  # outside any source
    pr.meters.funds.register_meter("PB-1", number, "USPS")
    pr.meters.funds.refill("PB-1", usd("10.00"), "r1")
    pr.meters.funds.withdraw_meter("PB-1", "w1")  # its funds return to the postage account
    pr.refunds.close_account(number)
    assert pr.payouts.payable(number) == usd("95.00")
    assert payable_account(pr) == 95_000

    payout = pr.payouts.run(number)
    assert payout is not None
    assert payout.status is PayoutStatus.PARTIAL
    assert [(p.payment_id, p.amount, p.status) for p in payout.parts] == [
        (debit.id, usd("40.00"), PayoutPartStatus.PENDING),  # a credit transfer, submitted
        (newer.id, usd("20.00"), PayoutPartStatus.SETTLED),
        (older.id, usd("30.00"), PayoutPartStatus.SETTLED),
    ]
    assert payout.paid == 90_000
    assert payout.unmatched == 5_000
    assert payout.parts[0].source_reference.startswith("ach-credit_")
    assert payout.parts[1].source_reference.startswith("re_")
    refunds_payable = pr.ledger.system_account(AccountKind.REFUNDS, "USD").code
    booked = {t.id: t.amount for t in pr.ledger.history(refunds_payable)}
    for part in payout.parts:
        assert part.transfer_id == f"payout:{part.id}"
        assert booked[part.transfer_id] == part.amount.mills
    for paid in (older, newer, debit):
        shown = pr.funding.payment(number, paid.id)
        assert shown.status is PaymentStatus.REFUNDED
        assert shown.refunded == shown.amount.mills
    assert payable_account(pr) == 5_000
    assert pr.payouts.payable(number) == usd("5.00")
    assert [(u.customer_number, u.amount) for u in pr.payouts.unmatched()] == [
        (number, usd("5.00"))
    ]
    assert [n.kind for n in told] == ["payout_sent"]
    assert told[0].data["paid"] == "90.00 USD"
    assert told[0].data["left_payable"] == "5.00 USD"

    assert pr.payouts.run(number) is None  # the rest has no deposit to go back to
    assert pr.jobs.run_now("vault.payouts") == 0
    assert pr.payouts.payouts(number) == [payout]
    # the ACH credit entry settles once the source's settlement days have passed
    clock.advance(timedelta(days=3))
    assert pr.payouts.settle_due() == 1
    assert pr.jobs.run_now("vault.payouts") == 0
    [later] = pr.payouts.payouts(number)
    assert [p.status for p in later.parts] == [PayoutPartStatus.SETTLED] * 3
    assert later.paid == 90_000
    assert pr.ledger.verify().ok


def test_a_partial_refund_leaves_the_deposit_settled_with_what_it_gave_back(
    pr: Postroom, customer: CustomerAccount
) -> None:
    number = customer.number
    card = pr.funding.add_instrument(number, "sandbox-card", CARD)
    paid = pr.funding.deposit(number, card.id, usd("30.00"), "c1")
    held = pr.ledger.reserve_postage(number, usd("12.00"), "label-1")
    pr.ledger.post_postage(number, held.id, "label-1-printed")  # postage spent
    pr.refunds.close_account(number)
    payout = pr.payouts.run(number)
    assert payout is not None
    assert payout.status is PayoutStatus.PAID
    assert [(p.payment_id, p.amount) for p in payout.parts] == [(paid.id, usd("18.00"))]
    shown = pr.funding.payment(number, paid.id)
    assert shown.status is PaymentStatus.SETTLED
    assert shown.refunded == 18_000
    assert payment_json(shown)["refunded"] == {"amount": "18.00", "currency": "USD"}
    assert pr.payouts.unmatched() == []
    assert pr.payouts.payable(number) == usd("0.00")
    assert pr.ledger.verify().ok


def test_an_unreachable_gateway_is_asked_again_with_the_same_key_and_refunds_once(
    pr: Postroom, customer: CustomerAccount, gateway: GatewayCard, told: list[Notification]
) -> None:
    number = customer.number
    card = pr.funding.add_instrument(number, "gateway-card", CARD)
    paid = pr.funding.deposit(number, card.id, usd("25.00"), "c1")
    pr.refunds.close_account(number)
    gateway.down = 1
    stuck = pr.payouts.run(number)
    assert stuck is not None
    assert stuck.status is PayoutStatus.IN_PROGRESS
    assert [p.status for p in stuck.parts] == [PayoutPartStatus.REQUESTED]
    assert payable_account(pr) == 25_000  # nothing booked while the source has not answered
    assert pr.payouts.payable(number) == usd("0.00")  # but it is spoken for
    assert pr.jobs.run_now("vault.payouts") == 1  # the next run resumes it
    done = pr.payouts.payout(number, stuck.id)
    assert done.status is PayoutStatus.PAID
    assert gateway.refunded == {stuck.parts[0].id: 25_000}
    assert pr.jobs.run_now("vault.payouts") == 0
    assert pr.payouts.run(number) is None
    assert gateway.refunded == {stuck.parts[0].id: 25_000}
    assert payable_account(pr) == 0
    assert pr.funding.payment(number, paid.id).status is PaymentStatus.REFUNDED
    assert [n.kind for n in told] == ["payout_sent"]
    assert pr.ledger.verify().ok


def test_a_refused_refund_books_nothing_and_is_left_to_an_agent(
    pr: Postroom, customer: CustomerAccount, gateway: GatewayCard
) -> None:
    number = customer.number
    card = pr.funding.add_instrument(number, "gateway-card", CARD)
    paid = pr.funding.deposit(number, card.id, usd("25.00"), "c1")
    pr.refunds.close_account(number)
    gateway.refuse = True
    payout = pr.payouts.run(number)
    assert payout is not None
    assert payout.status is PayoutStatus.PARTIAL
    [part] = payout.parts
    assert part.status is PayoutPartStatus.FAILED
    assert part.failure_code == "charge_disputed"
    assert part.transfer_id is None
    assert payout_json(payout)["left_payable"] == {"amount": "25.00", "currency": "USD"}
    assert payable_account(pr) == 25_000
    assert pr.funding.payment(number, paid.id).refunded == 0
    assert [(u.customer_number, u.amount) for u in pr.payouts.unmatched()] == [
        (number, usd("25.00"))
    ]
    assert pr.payouts.run(number) is None  # not asked again: an agent's turn


def test_bad_requests_are_refused_and_write_nothing(
    pr: Postroom, customer: CustomerAccount
) -> None:
    card = pr.funding.add_instrument(customer.number, "sandbox-card", CARD)
    pr.funding.deposit(customer.number, card.id, usd("25.00"), "c1")
    with pytest.raises(Conflict) as open_account:
        pr.payouts.run(customer.number)
    assert open_account.value.code == "account_open"
    with pytest.raises(NotFound) as unknown:
        pr.payouts.run("9999999999")
    assert unknown.value.code == "account_not_found"
    with pytest.raises(NotFound) as missing:
        pr.payouts.payout(customer.number, "po_nope")
    assert missing.value.code == "payout_not_found"
    assert pr.payouts.payouts(customer.number) == []
    assert pr.ledger.balance(customer.number).balances.balance == 25_000


def test_payouts_from_the_command_line(
    pr: Postroom, customer: CustomerAccount, store_url: str, data_dir: Path
) -> None:
    number = customer.number
    card = pr.funding.add_instrument(number, "sandbox-card", CARD)
    pr.funding.deposit(number, card.id, usd("25.00"), "c1")
    pr.ledger.deposit(number, usd("3.00"), "cash")
    runner = CliRunner(env={"POSTROOM_DATABASE_URL": store_url, "POSTROOM_DATA_DIR": str(data_dir)})
    refused = runner.invoke(cli, ["vault", "payouts", "run", "--account", number])
    assert refused.exit_code == 1
    assert "[account_open]" in refused.output
    pr.refunds.close_account(number)
    ran = runner.invoke(cli, ["vault", "payouts", "run", "--account", number, "--json"])
    assert ran.exit_code == 0, ran.output
    shown = json.loads(ran.output)
    assert shown["status"] == "partial"
    assert shown["paid"] == {"amount": "25.00", "currency": "USD"}
    listed = runner.invoke(cli, ["vault", "payouts", "list", "--account", number, "--json"])
    assert [p["id"] for p in json.loads(listed.output)] == [shown["id"]]
    left = runner.invoke(cli, ["vault", "payouts", "unmatched", "--json"])
    assert json.loads(left.output) == [
        {"customer_number": number, "amount": {"amount": "3.00", "currency": "USD"}}
    ]
    again = runner.invoke(cli, ["vault", "payouts", "run", "--account", number])
    assert again.exit_code == 0
    assert "nothing to pay back" in again.output


def test_a_sepa_collection_is_paid_back_by_credit_transfer(
    pr: Postroom, clock: FrozenClock
) -> None:
    customer = pr.accounts.create("Acme GmbH", "DE", "EUR")
    number = customer.number
    mandate = {
        "iban": "DE89 3704 0044 0532 0130 00",
        "mandate_reference": "PR-MANDATE-0001",
        "signature_date": "2026-02-01",
        "creditor_id": "DE98ZZZ09999999999",
        "account_holder": "Acme GmbH",
    }
    bank = pr.funding.add_instrument(number, "sepa-debit", mandate)
    collected = pr.funding.deposit(number, bank.id, Money.parse("50.00 EUR"), "s1")
    clock.advance(timedelta(days=2))
    assert pr.funding.settle_due() == 1
    pr.refunds.close_account(number)
    payout = pr.payouts.run(number)
    assert payout is not None
    [part] = payout.parts
    assert (part.payment_id, part.amount, part.status) == (
        collected.id,
        Money.parse("50.00 EUR"),
        PayoutPartStatus.PENDING,
    )
    assert part.source_reference.startswith("sct_")
    assert pr.funding.payment(number, collected.id).status is PaymentStatus.REFUNDED
    assert pr.ledger.system_account(AccountKind.REFUNDS, "EUR").balances.balance == 0
    assert pr.ledger.verify().ok


def test_a_returned_credit_transfer_is_payable_again_for_an_agent(
    pr: Postroom, clock: FrozenClock, told: list[Notification], store_url: str, data_dir: Path
) -> None:
    customer = pr.accounts.create("Acme Inc.", "US", "USD")
    number = customer.number
    bank = pr.funding.add_instrument(number, "ach-debit", ACH)
    collected = pr.funding.deposit(number, bank.id, usd("40.00"), "a1")
    clock.advance(timedelta(days=5))
    pr.funding.settle_due()
    pr.refunds.close_account(number)
    payout = pr.payouts.run(number)
    assert payout is not None
    assert payout.status is PayoutStatus.PAID
    [part] = payout.parts
    assert part.status is PayoutPartStatus.PENDING
    assert payable_account(pr) == 0

    # A return the source does not know, or of a refund that does not exist: nothing.
    with pytest.raises(ValidationError) as unknown_reason:
        pr.payouts.record_return(part.id, "XX99")
    assert unknown_reason.value.code == "invalid_reason"
    with pytest.raises(NotFound) as missing:
        pr.payouts.record_return("po_nope-1", "R02")
    assert missing.value.code == "payout_refund_not_found"
    assert payable_account(pr) == 0

    # The bank sends it back (account closed): the money is payable again, once.
    returned = pr.payouts.record_return(part.id, "r02")
    assert returned.status is PayoutStatus.PARTIAL
    assert (returned.paid, returned.left) == (0, 40_000)
    assert (returned.parts[0].status, returned.parts[0].failure_code) == (
        PayoutPartStatus.RETURNED,
        "R02",
    )
    runner = CliRunner(env={"POSTROOM_DATABASE_URL": store_url, "POSTROOM_DATA_DIR": str(data_dir)})
    shown = runner.invoke(cli, ["vault", "payouts", "return", part.id, "--reason", "R02", "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output) == payout_json(returned)  # recorded already: unchanged
    assert payable_account(pr) == 40_000
    assert pr.payouts.payable(number) == usd("40.00")
    payment = pr.funding.payment(number, collected.id)
    assert (payment.status, payment.refunded) == (PaymentStatus.SETTLED, 0)
    # Not paid to that account again: an agent's turn, and the customer knows.
    assert pr.payouts.run(number) is None
    assert [(u.customer_number, u.amount) for u in pr.payouts.unmatched()] == [
        (number, usd("40.00"))
    ]
    assert [n.kind for n in told].count("payout_returned") == 1
    assert pr.ledger.verify().ok


def test_a_card_refund_is_not_returned(pr: Postroom, customer: CustomerAccount) -> None:
    number = customer.number
    card = pr.funding.add_instrument(number, "sandbox-card", CARD)
    pr.funding.deposit(number, card.id, usd("25.00"), "c1")
    pr.refunds.close_account(number)
    payout = pr.payouts.run(number)
    assert payout is not None
    with pytest.raises(Conflict) as refused:
        pr.payouts.record_return(payout.parts[0].id, "R02")
    assert refused.value.code == "payout_not_returnable"
    assert pr.payouts.payout(number, payout.id) == payout
    assert payable_account(pr) == 0
