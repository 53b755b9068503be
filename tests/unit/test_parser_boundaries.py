"""Every parser of outside input, at and past its boundaries: it accepts what it documents
and raises nothing but the project's ValidationError family, whatever the text."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postroom.core.clock import iso_utc
from postroom.core.errors import ValidationError
from postroom.core.funding.model import parse_month
from postroom.core.ledger.model import check_transfer_id, parse_moment
from postroom.core.money import MAX_DIGITS, Money
from postroom.core.text import check_no_control
from postroom.core.units import MAX_DIGITS as QUANTITY_DIGITS
from postroom.core.units import Dimensions, Weight

hostile = st.one_of(
    st.text(max_size=300),
    st.text(alphabet="0123456789.,'- eE+", max_size=300),
    st.integers(1, 6000).map(lambda n: "9" * n),
    st.integers(1, 6000).map(lambda n: "9" * n + " oz"),
    st.integers(1, 6000).map(lambda n: "1x1x" + "9" * n + " in"),
)


def _only_validation_errors(parse, text) -> None:
    with contextlib.suppress(ValidationError):
        parse(text)


@given(hostile)
def test_the_amount_parsers_raise_only_validation_errors(text):
    _only_validation_errors(lambda t: Money.parse(t, "USD"), text)
    _only_validation_errors(lambda t: Money.of(t, "USD"), text)
    _only_validation_errors(lambda t: Money.from_json({"amount": t, "currency": "USD"}), text)


@given(hostile)
def test_the_quantity_parsers_raise_only_validation_errors(text):
    _only_validation_errors(Weight.parse, text)
    _only_validation_errors(lambda t: Weight.of(t, "g"), text)
    _only_validation_errors(Dimensions.parse, text)


@given(hostile)
def test_the_date_and_id_parsers_raise_only_validation_errors(text):
    _only_validation_errors(parse_month, text)
    _only_validation_errors(parse_moment, text)
    _only_validation_errors(lambda t: parse_moment(t, end=True), text)
    _only_validation_errors(check_transfer_id, text)
    _only_validation_errors(lambda t: check_no_control(t, "reference"), text)


@given(st.integers(-(10 ** (MAX_DIGITS - 3)) + 1, 10 ** (MAX_DIGITS - 3) - 1), st.integers(0, 3))
def test_amounts_up_to_the_digit_limit_read_back_exactly(units, places):
    amount = Decimal(units).scaleb(-places)
    assert Money.parse(f"{amount} USD").decimal == amount


@pytest.mark.parametrize("digits", [MAX_DIGITS + 4, 4301, 5000])
def test_amounts_past_the_digit_limit_are_refused(digits):
    for parse in (lambda t: Money.of(t, "USD"), lambda t: Money.from_decimal(Decimal(t), "USD")):
        with pytest.raises(ValidationError) as caught:
            parse("9" * digits)
        assert caught.value.code == "invalid_amount"


@given(st.integers(1, 10**QUANTITY_DIGITS - 1))
def test_weights_up_to_the_digit_limit_are_exact(grams):
    assert Weight.of(str(grams), "g").grams == grams


@pytest.mark.parametrize("digits", [QUANTITY_DIGITS + 2, 4301, 5000])
def test_quantities_past_the_digit_limit_are_refused(digits):
    with pytest.raises(ValidationError):
        Weight.of("9" * digits, "g")
    with pytest.raises(ValidationError):
        Weight.of(Decimal("9" * digits), "g")
    with pytest.raises(ValidationError):
        Dimensions.of("1", "1", "9" * digits, "in")


@given(st.integers(1970, 9999), st.integers(1, 12))
def test_every_documented_month_parses(year, month):
    assert parse_month(f"{year:04d}-{month:02d}") == (year, month)


FULL_WIDTH_2026 = "\uff12\uff10\uff12\uff16"


@pytest.mark.parametrize(
    "text", ["0000-00", "1969-12", "2026-13", "2026-00", f"{FULL_WIDTH_2026}-01"]
)
def test_months_outside_the_document_are_refused(text):
    with pytest.raises(ValidationError):
        parse_month(text)


@given(st.datetimes(timezones=st.just(UTC)))
def test_moments_render_as_iso_8601_with_a_zone_and_read_back(moment):
    text = iso_utc(moment)
    assert len(text) == 27
    assert text.endswith("Z")
    assert datetime.fromisoformat(text) == moment


def test_the_earliest_moment_renders_with_four_year_digits():
    assert iso_utc(datetime.min) == "0001-01-01T00:00:00.000000Z"
    assert parse_moment("0001-01-01") == datetime.min.replace(tzinfo=UTC)
    assert parse_moment("9999-12-31", end=True) == datetime.max.replace(tzinfo=UTC)


@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:@/-]{0,63}", fullmatch=True))
def test_every_documented_transfer_id_is_accepted(transfer_id):
    assert check_transfer_id(transfer_id) == transfer_id


@given(st.text(min_size=65, max_size=200) | st.just("") | st.just("-a") | st.just("a\x00"))
def test_transfer_ids_outside_the_document_are_refused(transfer_id):
    with pytest.raises(ValidationError):
        check_transfer_id(transfer_id)
