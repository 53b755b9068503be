"""The contract rules: terms, statuses, renewal dates and when a reminder is due;
installation addresses as typed by people."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postroom.core.contracts.model import (
    BillingPeriod,
    Contract,
    ContractKind,
    ContractStatus,
    Terms,
    add_months,
    parse_address,
    parse_contract_number,
)
from postroom.core.errors import ValidationError
from postroom.core.money import Money


def contract(start: date = date(2026, 1, 31), months: int = 1, *, renew: bool = True) -> Contract:
    return Contract(
        id=1,
        number="LS-2026-000001",
        customer_number="1000000009",
        serial="PR-1",
        product_code="PR-VPSD1",
        kind=ContractKind.LEASE,
        start=start,
        term_months=months,
        terms=Terms(BillingPeriod.MONTHLY, Money(10_000, "USD"), 30),
        auto_renew=renew,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_months_are_added_by_the_calendar() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2026, 11, 15), 3) == date(2027, 2, 15)


def test_terms_of_a_month_end_contract_do_not_drift() -> None:
    monthly = contract()
    assert monthly.term(1).end == date(2026, 2, 27)
    assert monthly.term(2).start == date(2026, 2, 28)
    assert monthly.term(3).start == date(2026, 3, 31)  # back to the 31st, not the 28th
    assert monthly.term_on(date(2026, 3, 30)).number == 2


@given(
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31)),
    months=st.integers(min_value=1, max_value=60),
    offset=st.integers(min_value=0, max_value=8000),
)
def test_every_day_after_the_start_falls_in_exactly_the_term_found(
    start: date, months: int, offset: int
) -> None:
    running = contract(start, months)
    day = date.fromordinal(start.toordinal() + offset)
    term = running.term_on(day)
    assert term.start <= day <= term.end
    assert running.term(term.number + 1).start == date.fromordinal(term.end.toordinal() + 1)


def test_statuses_over_a_contract_that_does_not_renew() -> None:
    year = contract(date(2026, 1, 1), 12, renew=False)  # ends 2026-12-31
    assert year.status_on(date(2026, 6, 1)) is ContractStatus.ACTIVE
    assert year.status_on(date(2026, 11, 1)) is ContractStatus.EXPIRING
    assert year.renewal_date(date(2026, 11, 1)) == date(2027, 1, 1)
    assert year.status_on(date(2027, 1, 1)) is ContractStatus.ENDED
    assert year.renewal_date(date(2027, 1, 1)) is None
    assert year.reminder_due(date(2027, 1, 1)) is None


def test_an_auto_renewing_contract_stays_active_term_after_term() -> None:
    year = contract(date(2026, 1, 1), 12)
    assert year.status_on(date(2029, 12, 31)) is ContractStatus.ACTIVE
    assert year.renewal_date(date(2029, 12, 31)) == date(2030, 1, 1)
    assert year.notice_deadline(date(2029, 6, 1)) == date(2029, 12, 1)
    due = year.reminder_due(date(2029, 11, 1))
    assert due is not None
    assert due.number == 4
    assert year.reminder_due(date(2029, 10, 31)) is None


def test_contract_numbers_are_read_as_people_type_them() -> None:
    assert parse_contract_number(" mt-2026-000042 ") == "MT-2026-000042"
    for bad in ("MT-2026-42", "XX-2026-000042", "", "MT-2026-000042\x00"):
        with pytest.raises(ValidationError):
            parse_contract_number(bad)


def test_an_address_is_cleaned_and_checked() -> None:
    address = parse_address("  12  Harbor St ", "", "sw1a 1aa", "London", "gb")
    assert address == parse_address("12 Harbor St", "", "SW1A 1AA", "London", "GB")
    assert address.lines() == ["12 Harbor St", "SW1A 1AA London", "GB"]
    for fields, code in [
        (("", "", "02110", "Boston", "US"), "invalid_address_line1"),
        (("1 A St", "x" * 101, "02110", "Boston", "US"), "invalid_address_line2"),
        (("1 A St", "", "<b>", "Boston", "US"), "invalid_postal_code"),
        (("1 A St", "", "02110", "", "US"), "invalid_city"),
        (("1 A St", "", "02110", "Boston", "XX"), "unknown_country"),
        (("1 A St\x1b[2J", "", "02110", "Boston", "US"), "control_character"),
    ]:
        with pytest.raises(ValidationError) as caught:
            parse_address(*fields)
        assert caught.value.code == code
