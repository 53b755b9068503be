"""A bank debit's money is not spendable before the bank pays (issue 11, item 1).

``ach-debit`` and ``sepa-debit`` answer a charge ``pending``: postroom submits nothing to
a bank itself, so until the debit settles it is a pending credit of the postage
account, shown as on its way and spent by nothing (prints, reservations, refills,
auto-refill's threshold). Settling posts it; a failure or return before that voids it.
Every test runs on SQLite and, with POSTROOM_TEST_DATABASE_URL, on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.errors import InsufficientFunds
from postroom.core.hookspecs import hookimpl
from postroom.core.ledger.model import Phase
from postroom.core.money import Money
from postroom.core.ports import Notification, PaymentStatus

V = "/api/v1/vault"
ACH = {
    "routing_number": "111000025",
    "account_number": "000123456789",
    "account_type": "checking",
    "account_holder": "Acme Inc.",
}
LETTER = {
    "carrier": "usps",
    "service": "first-class-letter",
    "weight": "1oz",
    "origin_zip": "10001",
}


class Told:
    """A plugin with a notifier keeping what the customer was told."""

    name = "told"
    channels = ("email",)

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def send(self, notification: Notification) -> None:
        self.sent.append(notification)

    @hookimpl
    def register_notifiers(self) -> list[Told]:
        return [self]

    def kinds(self) -> list[str]:
        return [n.kind for n in self.sent]


@pytest.fixture
def told() -> Told:
    return Told()


@pytest.fixture
def pr(open_postroom: Any, told: Told) -> Iterator[Postroom]:
    with open_postroom(("told", told)) as postroom:
        yield postroom


@pytest.fixture
def client(pr: Postroom) -> FlaskClient:
    from postroom.frontends.web import create_app

    return create_app({"TESTING": True}, postroom=pr).test_client()


@pytest.fixture
def customer(pr: Postroom) -> tuple[str, dict[str, str]]:
    account = pr.accounts.create("Acme Mailroom", "US", "USD")
    token = pr.accounts.create_api_key(account.number, "test").token
    return account.number, {"Authorization": f"Bearer {token}"}


def usd(text: str) -> Money:
    return Money.parse(f"{text} USD")


def _debit(pr: Postroom, number: str, amount: str = "100.00", key: str = "d1") -> Any:
    bank = pr.funding.add_instrument(number, "ach-debit", ACH)
    return pr.funding.deposit(number, bank.id, usd(amount), key)


def test_a_customer_key_cannot_print_with_a_bank_debit_before_the_bank_pays(
    client: FlaskClient, pr: Postroom, customer: tuple[str, dict[str, str]], clock: FrozenClock
) -> None:
    # The attack: any bank account that passes the check digits, 50,000 USD, print at once.
    number, headers = customer
    added = client.post(
        f"{V}/instruments", json={"source": "ach-debit", "fields": ACH}, headers=headers
    )
    assert added.status_code == 201, added.get_json()
    paid = client.post(
        f"{V}/payments",
        json={
            "id": "big-1",
            "instrument_id": added.get_json()["id"],
            "amount": {"amount": "50000.00", "currency": "USD"},
        },
        headers=headers,
    )
    assert paid.status_code == 201, paid.get_json()
    payment = paid.get_json()
    assert payment["status"] == "pending"
    printed = client.post(
        "/api/v1/postage", json={**LETTER, "idempotency_key": "p1"}, headers=headers
    )
    assert printed.get_json()["error"]["code"] == "insufficient_funds"
    with pytest.raises(InsufficientFunds):
        pr.ledger.reserve_postage(number, usd("1.00"), "hold-1")

    assert payment["expected_settlement_at"] == "2026-03-05T09:30:00Z"  # ACH: 3 days
    balance = client.get(f"{V}/balance", headers=headers).get_json()
    assert balance["available"] == {"amount": "0.00", "currency": "USD"}
    assert balance["balance"] == {"amount": "0.00", "currency": "USD"}
    assert balance["pending"] == {"amount": "50000.00", "currency": "USD"}
    assert balance["pending_expected_at"] == "2026-03-05T09:30:00Z"

    clock.advance(timedelta(days=3))
    assert pr.jobs.run_now("vault.settle-payments") == 1
    printed = client.post(
        "/api/v1/postage", json={**LETTER, "idempotency_key": "p2"}, headers=headers
    )
    assert printed.status_code == 201, printed.get_json()
    balance = client.get(f"{V}/balance", headers=headers).get_json()
    assert balance["pending"] == {"amount": "0.00", "currency": "USD"}
    assert balance["pending_expected_at"] is None
    settled = client.get(f"{V}/payments/{payment['id']}", headers=headers).get_json()
    assert (settled["status"], settled["expected_settlement_at"]) == ("settled", None)
    assert pr.ledger.verify().ok


def test_a_return_before_settlement_voids_the_credit_without_debt(pr: Postroom, told: Told) -> None:
    number = pr.accounts.create("Acme Mailroom", "US", "USD").number
    debit = _debit(pr, number)
    returned = pr.funding.record_return(debit.id, "R01")
    assert (returned.status, returned.outstanding) == (PaymentStatus.RETURNED, 0)
    account = pr.ledger.balance(number)
    assert (account.balances.balance, account.balances.credits_pending) == (0, 0)
    assert pr.funding.debt(number) == usd("0")
    assert not pr.funding.refills_locked(number)
    (message,) = [n for n in told.sent if n.kind == "payment_returned"]
    assert message.data["refills_locked"] == "no"
    assert "nothing is due" in message.body
    assert pr.funding.record_return(debit.id, "R01") == returned  # recorded once
    assert told.kinds().count("payment_returned") == 1
    assert pr.jobs.run_now("vault.settle-payments") == 0
    voided = pr.ledger.customer_transfer(number, f"void:{debit.id}").transfer
    assert (voided.phase, voided.pending_id) == (Phase.VOID, f"pay:{debit.id}")
    assert pr.ledger.verify().ok


def test_a_return_after_settlement_keeps_the_debt_path(pr: Postroom) -> None:
    number = pr.accounts.create("Acme Mailroom", "US", "USD").number
    debit = _debit(pr, number)
    pr.funding.settle(debit.id)
    pr.ledger.reserve_postage(number, usd("60.00"), "hold-1")  # spent, in effect
    returned = pr.funding.record_return(debit.id, "R01")  # weeks later, as banks do
    assert returned.outstanding == 60_000
    assert pr.funding.refills_locked(number)
    assert pr.ledger.balance(number).balances.balance == 60_000  # what the hold still holds


def test_expire_pending_never_releases_a_debit_on_its_way(pr: Postroom, clock: FrozenClock) -> None:
    number = pr.accounts.create("Acme Mailroom", "US", "USD").number
    debit = _debit(pr, number)
    clock.advance(timedelta(days=400))
    assert pr.jobs.run_now("vault.expire-pending") == 0
    assert pr.ledger.balance(number).balances.credits_pending == 100_000
    assert pr.funding.settle(debit.id).status is PaymentStatus.SETTLED
    assert pr.ledger.balance(number).balances.available == 100_000


def test_a_pending_auto_refill_suppresses_another_and_counts_toward_the_cap(
    pr: Postroom, told: Told, clock: FrozenClock
) -> None:
    number = pr.accounts.create("Acme Mailroom", "US", "USD").number
    bank = pr.funding.add_instrument(number, "ach-debit", ACH)
    pr.funding.set_auto_refill(
        number, usd("10.00"), amount=usd("50.00"), daily_cap=usd("80.00"), instrument_id=bank.id
    )
    first = pr.funding.check_account(number)
    assert first.refill is not None
    assert first.refill.status is PaymentStatus.PENDING
    assert first.alerted  # still nothing to spend: the customer hears of it once
    again = pr.funding.check_account(number)
    assert (again.refill, again.skipped, again.alerted) == (None, "refill_pending", False)
    assert told.kinds().count("low_balance") == 1
    assert len(pr.funding.payments(number)) == 1

    pr.funding.settle(first.refill.id)
    pr.ledger.reserve_postage(number, usd("45.00"), "hold-1")  # below the threshold again
    capped = pr.funding.check_account(number)  # 50 + 50 would pass the 80 cap today
    assert (capped.refill, capped.skipped) == (None, "daily_cap")
    clock.advance(timedelta(days=1))
    assert pr.funding.check_account(number).refill is not None
