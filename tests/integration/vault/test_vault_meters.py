"""Meter registers: the postal view of a meter's ledger account."""

from __future__ import annotations

from datetime import timedelta

import pytest

from postroom.core.accounts.model import CustomerAccount
from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.errors import Conflict, InsufficientFunds, NotFound, ValidationError
from postroom.core.money import Money
from postroom.core.vault.model import derive_reset_key


def usd(text: str) -> Money:
    return Money.parse(f"{text} USD")


def test_refill_and_usage_move_the_registers(pr: Postroom, customer: CustomerAccount) -> None:
    pr.vault.deposit(customer.number, usd("100"), "dep")
    pr.vault.register_meter("PB-123", customer.number, "usps")
    pr.vault.refill("PB-123", usd("60"), "refill-1")
    pr.vault.record_usage("PB-123", usd("0.73"), 1, "use-1")
    pr.vault.record_usage("PB-123", usd("7.30"), 10, "use-2")
    regs = pr.vault.registers("PB-123")
    assert (regs.descending, regs.ascending, regs.control_sum, regs.pieces) == (
        51_970,
        8_030,
        60_000,
        11,
    )
    assert regs.ascending + regs.descending == regs.control_sum
    assert pr.vault.balance(customer.number).balances.balance == 40_000
    assert pr.vault.account("used:USPS:USD").balances.credits_posted == 8_030
    assert pr.vault.account("meter:PB-123").balances.balance == regs.descending
    # replayed usage report: applied once
    pr.vault.record_usage("PB-123", usd("7.30"), 10, "use-2")
    assert pr.vault.registers("PB-123").pieces == 11
    assert pr.vault.verify().ok


def test_usage_beyond_the_descending_register_is_refused(
    pr: Postroom, customer: CustomerAccount
) -> None:
    pr.vault.deposit(customer.number, usd("10"), "dep")
    pr.vault.register_meter("PB-1", customer.number, "USPS")
    pr.vault.refill("PB-1", usd("1"), "r")
    with pytest.raises(InsufficientFunds):
        pr.vault.record_usage("PB-1", usd("1.001"), 1, "u")
    with pytest.raises(InsufficientFunds):
        pr.vault.refill("PB-1", usd("9.001"), "r2")
    regs = pr.vault.registers("PB-1")
    assert (regs.descending, regs.ascending, regs.control_sum) == (1_000, 0, 1_000)


def test_meter_bad_input(pr: Postroom, customer: CustomerAccount) -> None:
    pr.vault.register_meter("PB-1", customer.number, "USPS")
    with pytest.raises(Conflict):
        pr.vault.register_meter("PB-1", customer.number, "USPS")
    with pytest.raises(NotFound):
        pr.vault.refill("nope", usd("1"), "r")
    with pytest.raises(ValidationError) as mixed:
        pr.vault.refill("PB-1", Money.parse("1 EUR"), "r")
    assert mixed.value.code == "currency_mismatch"
    with pytest.raises(ValidationError):
        pr.vault.record_usage("PB-1", usd("1"), 0, "u")
    with pytest.raises(ValidationError):
        pr.vault.refill("PB-1", usd("0"), "r")
    assert pr.vault.verify().transfers_checked == 0


def test_refill_issues_a_reset_token_applied_at_most_once(
    pr: Postroom, customer: CustomerAccount, clock: FrozenClock
) -> None:
    pr.vault.deposit(customer.number, usd("100"), "dep")
    pr.vault.register_meter("PB-7", customer.number, "USPS")
    first = pr.vault.refill("PB-7", usd("20"), "r1")
    second = pr.vault.refill("PB-7", usd("30"), "r2")
    assert (first.reset.sequence, second.reset.sequence) == (1, 2)
    assert first.reset.amount == 20_000
    assert pr.vault.refill("PB-7", usd("20"), "r1").token == first.token  # replayed refill
    applied = pr.vault.apply_reset_token("PB-7", first.token)
    assert applied == first.reset
    with pytest.raises(Conflict) as replay:
        pr.vault.apply_reset_token("PB-7", first.token)
    assert replay.value.code == "reset_token_replayed"
    with pytest.raises(ValidationError) as foreign:
        pr.vault.apply_reset_token("PB-8", second.token)
    assert foreign.value.code == "reset_token_invalid"
    body, mac = second.token.split(".")
    forged = body + "." + ("0" if mac[0] != "0" else "1") + mac[1:]
    with pytest.raises(ValidationError) as bad_mac:
        pr.vault.apply_reset_token("PB-7", forged)
    assert bad_mac.value.code == "reset_token_invalid"
    clock.advance(timedelta(days=8))
    with pytest.raises(ValidationError) as late:
        pr.vault.apply_reset_token("PB-7", second.token)
    assert late.value.code == "reset_token_expired"


def test_a_token_from_another_data_center_is_refused(
    pr: Postroom, customer: CustomerAccount
) -> None:
    pr.vault.deposit(customer.number, usd("100"), "dep")
    pr.vault.register_meter("PB-7", customer.number, "USPS")
    refill = pr.vault.refill("PB-7", usd("20"), "r1")
    other_key = derive_reset_key("another installation's secret")
    with pytest.raises(ValidationError) as foreign:
        pr.vault.apply_reset_token("PB-7", refill.reset.encode(other_key))
    assert foreign.value.code == "reset_token_invalid"
    assert pr.vault.apply_reset_token("PB-7", refill.token).sequence == 1


def test_withdrawn_meter_returns_its_funds(pr: Postroom, customer: CustomerAccount) -> None:
    pr.vault.deposit(customer.number, usd("100"), "dep")
    pr.vault.register_meter("OLD-1", customer.number, "USPS")
    pr.vault.refill("OLD-1", usd("30"), "r1")
    pr.vault.record_usage("OLD-1", usd("4"), 8, "u1")
    back = pr.vault.withdraw_meter("OLD-1", "w1")
    assert back is not None
    assert back.amount == 26_000
    assert pr.vault.withdraw_meter("OLD-1", "w1") == back  # replay
    regs = pr.vault.registers("OLD-1")
    assert (regs.status, regs.descending, regs.ascending, regs.control_sum) == (
        "withdrawn",
        0,
        4_000,
        4_000,
    )
    assert pr.vault.balance(customer.number).balances.balance == 96_000
    with pytest.raises(Conflict) as closed:
        pr.vault.refill("OLD-1", usd("1"), "r2")
    assert closed.value.code == "meter_withdrawn"
    assert pr.vault.verify().ok


def test_replaced_meter_funds_move_to_the_new_meter(
    pr: Postroom, customer: CustomerAccount
) -> None:
    pr.vault.deposit(customer.number, usd("100"), "dep")
    pr.vault.register_meter("OLD-1", customer.number, "USPS")
    pr.vault.register_meter("NEW-1", customer.number, "USPS")
    pr.vault.refill("OLD-1", usd("30"), "r1")
    pr.vault.record_usage("OLD-1", usd("10"), 1, "u1")
    moved = pr.vault.replace_meter("OLD-1", "NEW-1", "swap")
    assert moved is not None
    assert moved.amount == 20_000
    new = pr.vault.registers("NEW-1")
    assert (new.descending, new.control_sum, new.ascending) == (20_000, 20_000, 0)
    assert pr.vault.registers("OLD-1").status == "withdrawn"
    assert pr.vault.balance(customer.number).balances.balance == 70_000
    other = pr.accounts.create("Other", "US", "USD")
    pr.vault.register_meter("THEIRS", other.number, "USPS")
    with pytest.raises(ValidationError) as mismatch:
        pr.vault.replace_meter("NEW-1", "THEIRS", "swap-2")
    assert mismatch.value.code == "meter_mismatch"
    assert pr.vault.verify().ok
