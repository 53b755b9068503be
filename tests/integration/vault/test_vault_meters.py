"""Meter registers: the postal view of a meter's ledger account."""

from __future__ import annotations

from datetime import timedelta

import pytest

from postroom.core.accounts.model import CustomerAccount
from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.errors import (
    Conflict,
    InsufficientFunds,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from postroom.core.meters import tokens
from postroom.core.money import Money


def usd(text: str) -> Money:
    return Money.parse(f"{text} USD")


def test_refill_and_usage_move_the_registers(pr: Postroom, customer: CustomerAccount) -> None:
    pr.ledger.deposit(customer.number, usd("100"), "dep")
    pr.meters.funds.register_meter("PB-123", customer.number, "usps")
    pr.meters.funds.refill("PB-123", usd("60"), "refill-1")
    pr.meters.funds.record_usage("PB-123", usd("0.73"), 1, "use-1")
    pr.meters.funds.record_usage("PB-123", usd("7.30"), 10, "use-2")
    regs = pr.meters.funds.registers("PB-123")
    assert (regs.descending, regs.ascending, regs.control_sum, regs.pieces) == (
        51_970,
        8_030,
        60_000,
        11,
    )
    assert regs.ascending + regs.descending == regs.control_sum
    assert pr.ledger.balance(customer.number).balances.balance == 40_000
    assert pr.ledger.account("used:USPS:USD").balances.credits_posted == 8_030
    assert pr.ledger.account("meter:PB-123").balances.balance == regs.descending
    # replayed usage report: applied once
    pr.meters.funds.record_usage("PB-123", usd("7.30"), 10, "use-2")
    assert pr.meters.funds.registers("PB-123").pieces == 11
    assert pr.ledger.verify().ok


def test_usage_beyond_the_descending_register_is_refused(
    pr: Postroom, customer: CustomerAccount
) -> None:
    pr.ledger.deposit(customer.number, usd("10"), "dep")
    pr.meters.funds.register_meter("PB-1", customer.number, "USPS")
    pr.meters.funds.refill("PB-1", usd("1"), "r")
    with pytest.raises(InsufficientFunds):
        pr.meters.funds.record_usage("PB-1", usd("1.001"), 1, "u")
    with pytest.raises(InsufficientFunds):
        pr.meters.funds.refill("PB-1", usd("9.001"), "r2")
    regs = pr.meters.funds.registers("PB-1")
    assert (regs.descending, regs.ascending, regs.control_sum) == (1_000, 0, 1_000)


def test_meter_bad_input(pr: Postroom, customer: CustomerAccount) -> None:
    pr.meters.funds.register_meter("PB-1", customer.number, "USPS")
    with pytest.raises(Conflict):
        pr.meters.funds.register_meter("PB-1", customer.number, "USPS")
    with pytest.raises(NotFound):
        pr.meters.funds.refill("nope", usd("1"), "r")
    with pytest.raises(ValidationError) as mixed:
        pr.meters.funds.refill("PB-1", Money.parse("1 EUR"), "r")
    assert mixed.value.code == "currency_mismatch"
    with pytest.raises(ValidationError):
        pr.meters.funds.record_usage("PB-1", usd("1"), 0, "u")
    with pytest.raises(ValidationError):
        pr.meters.funds.refill("PB-1", usd("0"), "r")
    assert pr.ledger.verify().transfers_checked == 0


def test_refill_issues_a_reset_token_applied_at_most_once(
    pr: Postroom, customer: CustomerAccount, clock: FrozenClock
) -> None:
    pr.ledger.deposit(customer.number, usd("100"), "dep")
    pr.meters.funds.register_meter("PB-7", customer.number, "USPS")
    pr.meters.funds.register_meter("PB-8", customer.number, "USPS")
    first = pr.meters.funds.refill("PB-7", usd("20"), "r1")
    second = pr.meters.funds.refill("PB-7", usd("30"), "r2")
    assert (first.reset.sequence, second.reset.sequence) == (1, 2)
    assert first.reset.amount == usd("20")
    assert pr.meters.funds.refill("PB-7", usd("20"), "r1").token == first.token  # replayed refill
    # the text is the device's own PRT1 format, under PB-7's key
    key = tokens.meter_key("test-secret", "PB-7")
    raw = tokens.from_text(first.token)
    assert raw.startswith(tokens.MAGIC)
    assert tokens.verify(key, raw, "PB-7", clock.now()) == first.reset
    applied = pr.meters.funds.apply_reset_token("PB-7", first.token)
    assert applied == first.reset
    with pytest.raises(Conflict) as replay:
        pr.meters.funds.apply_reset_token("PB-7", first.token)
    assert replay.value.code == "token_replayed"
    with pytest.raises(PermissionDenied) as foreign:  # checked under PB-8's key
        pr.meters.funds.apply_reset_token("PB-8", second.token)
    assert foreign.value.code == "token_forged"
    tampered = bytearray(tokens.from_text(second.token))
    tampered[-1] ^= 1
    with pytest.raises(PermissionDenied) as bad_mac:
        pr.meters.funds.apply_reset_token("PB-7", tokens.to_text(bytes(tampered)))
    assert bad_mac.value.code == "token_forged"
    with pytest.raises(ValidationError) as garbage:
        pr.meters.funds.apply_reset_token("PB-7", "not a token!")
    assert garbage.value.code == "token_malformed"
    clock.advance(timedelta(days=8))
    with pytest.raises(ValidationError) as late:
        pr.meters.funds.apply_reset_token("PB-7", second.token)
    assert late.value.code == "token_expired"


def test_reset_tokens_apply_in_sequence(pr: Postroom, customer: CustomerAccount) -> None:
    pr.ledger.deposit(customer.number, usd("100"), "dep")
    pr.meters.funds.register_meter("PB-7", customer.number, "USPS")
    first = pr.meters.funds.refill("PB-7", usd("20"), "r1")
    second = pr.meters.funds.refill("PB-7", usd("30"), "r2")
    assert pr.meters.funds.apply_reset_token("PB-7", second.token).sequence == 2
    with pytest.raises(Conflict) as stale:  # as on the device: sequences only go up
        pr.meters.funds.apply_reset_token("PB-7", first.token)
    assert stale.value.code == "token_replayed"


def test_a_token_from_another_data_center_is_refused(
    pr: Postroom, customer: CustomerAccount, clock: FrozenClock
) -> None:
    pr.ledger.deposit(customer.number, usd("100"), "dep")
    pr.meters.funds.register_meter("PB-7", customer.number, "USPS")
    refill = pr.meters.funds.refill("PB-7", usd("20"), "r1")
    other_key = tokens.meter_key("another installation's secret", "PB-7")
    elsewhere = tokens.issue(other_key, "PB-7", 1, usd("20"), clock.now() + timedelta(days=1))
    with pytest.raises(PermissionDenied) as foreign:
        pr.meters.funds.apply_reset_token("PB-7", tokens.to_text(elsewhere))
    assert foreign.value.code == "token_forged"
    # a token under the right key that this vault never issued is refused too
    key = tokens.meter_key("test-secret", "PB-7")
    unissued = tokens.issue(key, "PB-7", 1, usd("99"), clock.now() + timedelta(days=1))
    with pytest.raises(PermissionDenied) as unknown:
        pr.meters.funds.apply_reset_token("PB-7", tokens.to_text(unissued))
    assert unknown.value.code == "token_forged"
    wrong_meter = tokens.issue(key, "PB-9", 1, usd("20"), clock.now() + timedelta(days=1))
    with pytest.raises(PermissionDenied) as wrong:
        pr.meters.funds.apply_reset_token("PB-7", tokens.to_text(wrong_meter))
    assert wrong.value.code == "token_wrong_meter"
    assert pr.meters.funds.apply_reset_token("PB-7", refill.token).sequence == 1


def test_withdrawn_meter_returns_its_funds(pr: Postroom, customer: CustomerAccount) -> None:
    pr.ledger.deposit(customer.number, usd("100"), "dep")
    pr.meters.funds.register_meter("OLD-1", customer.number, "USPS")
    pr.meters.funds.refill("OLD-1", usd("30"), "r1")
    pr.meters.funds.record_usage("OLD-1", usd("4"), 8, "u1")
    back = pr.meters.funds.withdraw_meter("OLD-1", "w1")
    assert back is not None
    assert back.amount == 26_000
    assert pr.meters.funds.withdraw_meter("OLD-1", "w1") == back  # replay
    regs = pr.meters.funds.registers("OLD-1")
    assert (regs.status, regs.descending, regs.ascending, regs.control_sum) == (
        "withdrawn",
        0,
        4_000,
        4_000,
    )
    assert pr.ledger.balance(customer.number).balances.balance == 96_000
    with pytest.raises(Conflict) as closed:
        pr.meters.funds.refill("OLD-1", usd("1"), "r2")
    assert closed.value.code == "meter_withdrawn"
    assert pr.ledger.verify().ok


def test_replaced_meter_funds_move_to_the_new_meter(
    pr: Postroom, customer: CustomerAccount
) -> None:
    pr.ledger.deposit(customer.number, usd("100"), "dep")
    pr.meters.funds.register_meter("OLD-1", customer.number, "USPS")
    pr.meters.funds.register_meter("NEW-1", customer.number, "USPS")
    pr.meters.funds.refill("OLD-1", usd("30"), "r1")
    pr.meters.funds.record_usage("OLD-1", usd("10"), 1, "u1")
    moved = pr.meters.funds.replace_meter("OLD-1", "NEW-1", "swap")
    assert moved is not None
    assert moved.amount == 20_000
    new = pr.meters.funds.registers("NEW-1")
    assert (new.descending, new.control_sum, new.ascending) == (20_000, 20_000, 0)
    assert pr.meters.funds.registers("OLD-1").status == "withdrawn"
    assert pr.ledger.balance(customer.number).balances.balance == 70_000
    other = pr.accounts.create("Other", "US", "USD")
    pr.meters.funds.register_meter("THEIRS", other.number, "USPS")
    with pytest.raises(ValidationError) as mismatch:
        pr.meters.funds.replace_meter("NEW-1", "THEIRS", "swap-2")
    assert mismatch.value.code == "meter_mismatch"
    assert pr.ledger.verify().ok


@pytest.mark.parametrize("serial", ["PR-" + "9" * 40, "MÈTER-1", "PR 1", ""])
def test_a_serial_no_reset_token_can_carry_is_refused_at_registration(
    pr: Postroom, customer: CustomerAccount, serial: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        pr.meters.funds.register_meter(serial, customer.number, "USPS")
    assert caught.value.code == "invalid_serial"
