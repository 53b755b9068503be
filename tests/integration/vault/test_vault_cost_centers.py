"""Department accounting: postage booked to cost centres, reported per cost centre."""

from __future__ import annotations

import pytest

from postroom.core.accounts.model import CustomerAccount
from postroom.core.app import Postroom
from postroom.core.errors import Conflict, ValidationError
from postroom.core.money import Money


def usd(text: str) -> Money:
    return Money.parse(f"{text} USD")


@pytest.fixture
def metered(pr: Postroom, customer: CustomerAccount) -> CustomerAccount:
    pr.ledger.deposit(customer.number, usd("100"), "dep")
    pr.meters.funds.register_meter("PB-CC1", customer.number, "usps")
    pr.meters.funds.refill("PB-CC1", usd("50"), "refill-1")
    return customer


def test_usage_by_cost_center_is_totalled_in_the_report(
    pr: Postroom, metered: CustomerAccount
) -> None:
    pr.meters.funds.record_usage("PB-CC1", usd("1.48"), 2, "use-legal", cost_center="Legal")
    pr.meters.funds.record_usage("PB-CC1", usd("0.74"), 1, "use-sales", cost_center="Sales")
    pr.meters.funds.record_usage("PB-CC1", usd("2.22"), 3, "use-legal-2", cost_center="Legal")
    pr.meters.funds.record_usage("PB-CC1", usd("0.74"), 1, "use-none")

    report = pr.ledger.report(metered.number)
    assert report.by_cost_center == (("Legal", -3_700, 5), ("Sales", -740, 1))

    legal = pr.ledger.report(metered.number, cost_center="Legal")
    assert {e.transfer_id for e in legal.entries} == {"use-legal", "use-legal-2"}
    assert sum(e.amount for e in legal.entries) == -3_700
    assert pr.ledger.verify().ok


def test_a_posted_reservation_keeps_its_cost_center(pr: Postroom, metered: CustomerAccount) -> None:
    pr.ledger.reserve_postage(metered.number, usd("0.74"), "hold-1", cost_center="Mailroom")
    posted = pr.ledger.post_postage(metered.number, "hold-1", "post-1")
    assert posted.cost_center == "Mailroom"
    report = pr.ledger.report(metered.number, cost_center="Mailroom")
    assert [(e.transfer_id, e.amount) for e in report.entries] == [("post-1", -740)]
    assert pr.ledger.verify().ok


def test_the_cost_center_is_part_of_the_idempotent_body(
    pr: Postroom, metered: CustomerAccount
) -> None:
    first = pr.meters.funds.record_usage("PB-CC1", usd("0.74"), 1, "use-1", cost_center="Legal")
    again = pr.meters.funds.record_usage("PB-CC1", usd("0.74"), 1, "use-1", cost_center="Legal")
    assert again.seq == first.seq
    with pytest.raises(Conflict) as caught:
        pr.meters.funds.record_usage("PB-CC1", usd("0.74"), 1, "use-1", cost_center="Sales")
    assert caught.value.code == "transfer_id_reused"


@pytest.mark.parametrize("bad", ["", " Legal", "x" * 61, "Legal\n"])
def test_a_malformed_cost_center_is_refused_and_nothing_written(
    pr: Postroom, metered: CustomerAccount, bad: str
) -> None:
    before = pr.meters.funds.registers("PB-CC1")
    with pytest.raises(ValidationError) as caught:
        pr.meters.funds.record_usage("PB-CC1", usd("0.74"), 1, "use-bad", cost_center=bad)
    assert caught.value.code == "invalid_cost_center"
    assert pr.meters.funds.registers("PB-CC1") == before
