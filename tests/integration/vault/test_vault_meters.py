"""Meter registers: the postal view of a meter's ledger account."""

from __future__ import annotations

import pytest

from postroom.core.accounts.model import CustomerAccount
from postroom.core.app import Postroom
from postroom.core.errors import Conflict, InsufficientFunds, NotFound, ValidationError
from postroom.core.money import Money


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
