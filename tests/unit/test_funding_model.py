"""Funding's pure rules: the auto-refill rule, the daily cap, months, statements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from postroom.core.errors import NotFound, ValidationError
from postroom.core.funding.model import (
    AutoRefillRule,
    Statement,
    check_instrument_id,
    day_bounds,
    minimum_due,
    month_bounds,
    parse_month,
    previous_month,
)
from postroom.core.money import Money
from postroom.core.payouts.model import match_refunds


def usd(text: str) -> Money:
    return Money.parse(f"{text} USD")


def rule(**changes) -> AutoRefillRule:
    values = {
        "customer_number": "1234567897",
        "threshold": usd("50"),
        "amount": usd("40"),
        "daily_cap": usd("80"),
        "instrument_id": "pi_" + "0" * 20,
    }
    values.update(changes)
    return AutoRefillRule(**values)


def test_daily_cap_counts_what_was_refilled_today():
    r = rule()
    assert r.allows(0)
    assert r.allows(40_000)
    assert not r.allows(40_001)
    assert rule(daily_cap=None).allows(10**12)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"amount": None}, "invalid_auto_refill"),  # an instrument without an amount
        ({"instrument_id": None}, "invalid_auto_refill"),
        ({"daily_cap": usd("30")}, "invalid_auto_refill"),  # smaller than one refill
        ({"amount": None, "instrument_id": None}, "invalid_auto_refill"),  # a cap, no amount
        ({"threshold": Money.parse("-1 USD")}, "invalid_amount"),
        ({"amount": Money.parse("0 USD")}, "invalid_amount"),
        ({"amount": Money.parse("40 EUR"), "daily_cap": None}, "currency_mismatch"),
    ],
)
def test_malformed_rules_are_refused(changes, code):
    with pytest.raises(ValidationError) as bad:
        rule(**changes)
    assert bad.value.code == code


def test_an_alert_only_rule():
    r = rule(amount=None, instrument_id=None, daily_cap=None)
    assert not r.refills
    assert r.to_json()["amount"] is None


def test_minimum_due():
    assert minimum_due(0) == 0
    assert minimum_due(-5) == 0
    assert minimum_due(10_000) == 10_000  # below the floor: all of it
    assert minimum_due(100_000) == 25_000  # 10 % is 10.00: the 25.00 floor
    assert minimum_due(1_000_010) == 100_010  # 10 % = 100.001, rounded up to the cent
    assert minimum_due(1_000_000) == 100_000


def test_months_and_days():
    assert parse_month("2026-04") == (2026, 4)
    for bad in ("2026-13", "2026-00", "26-04", "2026/04", "", "1969-12"):
        with pytest.raises(ValidationError):
            parse_month(bad)
    start, end = month_bounds(2024, 2)
    assert (start.day, (end - start).days) == (1, 29)
    assert previous_month(datetime(2026, 1, 5, tzinfo=UTC)) == (2025, 12)
    start, end = day_bounds(datetime(2026, 3, 2, 23, 59, tzinfo=UTC))
    assert (start.hour, (end - start).days) == (0, 1)


def test_statement_closing_and_due_date():
    s = Statement.build("1234567897", 2026, 2, "USD", 100_000, 50_000, 30_000, 500_000,
                        datetime(2026, 3, 1, tzinfo=UTC))  # fmt: skip
    assert s.closing == 120_000
    assert s.minimum_due == 25_000
    assert s.due_date.isoformat() == "2026-03-21"
    assert s.to_json()["closing_balance"] == {"amount": "120.00", "currency": "USD"}


def test_instrument_ids():
    with pytest.raises(NotFound):
        check_instrument_id("pi_x\x00")


def test_refunds_go_to_the_newest_payments_first_and_never_beyond_their_room():
    newest_first = [("pm_c", 40_000), ("pm_b", 20_000), ("pm_a", 30_000)]
    assert match_refunds(95_000, newest_first) == (
        [("pm_c", 40_000), ("pm_b", 20_000), ("pm_a", 30_000)],
        5_000,
    )
    assert match_refunds(50_000, newest_first) == ([("pm_c", 40_000), ("pm_b", 10_000)], 0)
    assert match_refunds(7, []) == ([], 7)
    assert match_refunds(0, newest_first) == ([], 0)


def test_a_declined_rule_waits_1_then_4_then_24_hours_then_is_suspended():
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    rule = AutoRefillRule("1234567897", Money(50_000, "USD"), Money(100_000, "USD"), None, "pi_x")
    first = rule.after_decline(t0)
    assert (first.declines, first.retry_at, first.suspended) == (1, t0 + timedelta(hours=1), False)
    second = first.after_decline(t0)
    assert second.retry_at == t0 + timedelta(hours=4)
    third = second.after_decline(t0)
    assert third.retry_at == t0 + timedelta(hours=24)
    fourth = third.after_decline(t0)
    assert (fourth.declines, fourth.retry_at, fourth.suspended) == (4, None, True)
    assert fourth.to_json()["suspended"] is True
