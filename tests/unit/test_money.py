from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postroom.core.errors import ValidationError
from postroom.core.money import Money


def usd(text: str) -> Money:
    return Money.of(text, "USD")


def eur(text: str) -> Money:
    return Money.of(text, "EUR")


# -- construction ---------------------------------------------------------------------------


def test_mills_are_thousandths_of_the_unit() -> None:
    assert Money(12340, "USD") == Money.of(Decimal("12.34"), "USD")
    assert Money.of(12, "USD").mills == 12000
    assert Money.of("0.125", "USD").mills == 125
    assert Money.zero("EUR") == Money(0, "EUR")


@pytest.mark.parametrize("bad", [1.5, True, "12", None, Decimal(3)])
def test_mills_must_be_an_int(bad: Any) -> None:
    with pytest.raises(ValidationError) as info:
        Money(bad, "USD")
    assert info.value.code == ("float_not_allowed" if isinstance(bad, float) else "invalid_amount")


@pytest.mark.parametrize("bad", ["usd", "XYZ", "US", "", 840])
def test_constructor_refuses_unknown_or_lower_case_currency(bad: Any) -> None:
    with pytest.raises(ValidationError) as info:
        Money(100, bad)
    assert info.value.code == "unknown_currency"


def test_of_normalises_currency_case() -> None:
    assert Money.of(1, "usd") == Money(1000, "USD")


def test_of_refuses_floats() -> None:
    a_float: Any = 0.1
    with pytest.raises(ValidationError) as info:
        Money.of(a_float, "USD")
    assert info.value.code == "float_not_allowed"


@pytest.mark.parametrize("text", ["1e3", "12,34", "abc", "", "NaN"])
def test_of_refuses_non_plain_strings(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        Money.of(text, "USD")
    assert info.value.code == "invalid_amount"


def test_from_decimal_refuses_sub_mill_precision_but_accepts_trailing_zeros() -> None:
    assert Money.from_decimal(Decimal("1.2300000"), "USD").mills == 1230
    assert Money.from_decimal(Decimal("1E+2"), "USD").mills == 100_000
    with pytest.raises(ValidationError) as info:
        Money.from_decimal(Decimal("0.0001"), "USD")
    assert info.value.code == "invalid_amount"


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_from_decimal_refuses_non_finite(value: Decimal) -> None:
    with pytest.raises(ValidationError) as info:
        Money.from_decimal(value, "USD")
    assert info.value.code == "invalid_amount"


def test_unknown_currency_in_of() -> None:
    with pytest.raises(ValidationError) as info:
        Money.of(1, "ABC")
    assert info.value.code == "unknown_currency"


# -- parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "mills", "currency"),
    [
        ("12.34 USD", 12340, "USD"),
        ("USD 12.34", 12340, "USD"),
        ("12,34 EUR", 12340, "EUR"),
        ("1,234.56 USD", 1234560, "USD"),
        ("1 234,56 EUR", 1234560, "EUR"),
        ("1.234,56 EUR", 1234560, "EUR"),
        ("1'234.56 CHF", 1234560, "CHF"),
        ("1,234,567 USD", 1234567000, "USD"),
        ("1.234.567,8 EUR", 1234567800, "EUR"),
        ("0.125 USD", 125, "USD"),
        ("0,125 EUR", 125, "EUR"),
        ("1.234 USD", 1234, "USD"),  # a single '.' is always decimal
        ("12 usd", 12000, "USD"),
        ("  7 GBP  ", 7000, "GBP"),
        ("-12.34 USD", -12340, "USD"),
        ("USD -12.34", -12340, "USD"),
        ("$12.34", 12340, "USD"),
        ("-$5", -5000, "USD"),
        ("€12,34", 12340, "EUR"),
        ("12,34 €", 12340, "EUR"),
        ("£3.5", 3500, "GBP"),
        ("1\u202f234,50\u00a0€", 1234500, "EUR"),  # what babel prints for fr_FR
    ],
)
def test_parse_accepts_common_forms(text: str, mills: int, currency: str) -> None:
    assert Money.parse(text) == Money(mills, currency)


def test_parse_bare_number_uses_default_currency() -> None:
    assert Money.parse("12.34", default_currency="eur") == Money(12340, "EUR")
    assert Money.parse("12.34 USD", default_currency="EUR") == Money(12340, "USD")


def test_parse_bare_number_without_default_is_missing_currency() -> None:
    with pytest.raises(ValidationError) as info:
        Money.parse("12.34")
    assert info.value.code == "missing_currency"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "USD",
        "abc USD",
        "NaN USD",
        "nan",
        "inf USD",
        "Infinity USD",
        "1e3 USD",
        "1E-2 USD",
        "12.3456 USD",  # finer than a mill
        "0.0001 USD",
        "12. USD",
        ".5 USD",
        "1,23,456 USD",  # grouping must be by three
        "12,34.5 USD",
        "1.2.3,4 EUR",
        "1 234.567,8 EUR",  # two kinds of grouping
        "--1 USD",
        "-USD -1",
        "$1 EUR",
        "1" * 200 + " USD",
        "1" + " " * 5000 + "!",  # refused quickly, not after quadratic backtracking
    ],
)
def test_parse_refuses_non_amounts(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        Money.parse(text, default_currency="USD" if text == "nan" else None)
    assert info.value.code == "invalid_amount"


@pytest.mark.parametrize("text", ["1,234 USD", "12,345 EUR", "999,000 USD"])
def test_parse_refuses_a_lone_comma_before_three_digits_as_ambiguous(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        Money.parse(text)
    assert info.value.code == "ambiguous_amount"


@pytest.mark.parametrize(("text", "mills"), [("1,234.00 USD", 1234000), ("1234 USD", 1234000)])
def test_ambiguity_is_resolved_by_writing_it_out(text: str, mills: int) -> None:
    assert Money.parse(text).mills == mills


@pytest.mark.parametrize("text", ["12.34 XYZ", "XYZ 1", "12 dollars"])
def test_parse_unknown_currency(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        Money.parse(text)
    assert info.value.code == "unknown_currency"


def test_parse_refuses_python_float() -> None:
    a_float: Any = 12.34
    with pytest.raises(ValidationError) as info:
        Money.parse(a_float, default_currency="USD")
    assert info.value.code == "float_not_allowed"


# -- text, json, locale formatting -----------------------------------------------------------


@pytest.mark.parametrize(
    ("mills", "text"),
    [
        (12340, "12.34 USD"),
        (12345, "12.345 USD"),
        (125, "0.125 USD"),
        (100, "0.10 USD"),
        (0, "0.00 USD"),
        (-3000, "-3.00 USD"),
        (-5, "-0.005 USD"),
        (1234567000, "1234567.00 USD"),
    ],
)
def test_str_is_minimal_natural_form(mills: int, text: str) -> None:
    assert str(Money(mills, "USD")) == text


def test_decimal_has_three_places() -> None:
    assert str(Money(12340, "USD").decimal) == "12.340"
    assert str(Money(-5, "USD").decimal) == "-0.005"
    assert Money(0, "USD").decimal == Decimal(0)


def test_to_json_and_back() -> None:
    money = Money(12340, "USD")
    assert money.to_json() == {"amount": "12.34", "currency": "USD"}
    assert Money.from_json(money.to_json()) == money
    with pytest.raises(ValidationError) as info:
        Money.from_json({"amount": 12.34, "currency": "USD"})
    assert info.value.code == "float_not_allowed"


@pytest.mark.parametrize(
    ("mills", "currency", "locale", "expected"),
    [
        (12340, "USD", "en_US", "$12.34"),
        (12345, "USD", "en_US", "$12.345"),
        (1234560, "USD", "en_US", "$1,234.56"),
        (-5000, "USD", "en_US", "-$5.00"),
        (12340, "EUR", "fr_FR", "12,34\u00a0€"),
        (1234565, "EUR", "fr_FR", "1\u202f234,565\u00a0€"),
        (0, "EUR", "fr_FR", "0,00\u00a0€"),
    ],
)
def test_format_by_locale(mills: int, currency: str, locale: str, expected: str) -> None:
    assert Money(mills, currency).format(locale) == expected


def test_format_defaults_to_en_us_and_refuses_unknown_locale() -> None:
    assert Money(12340, "USD").format() == "$12.34"
    with pytest.raises(ValidationError) as info:
        Money(1, "USD").format("xx_NOPE")
    assert info.value.code == "unknown_locale"


@given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from(["USD", "EUR"]))
def test_str_and_en_us_format_parse_back(mills: int, currency: str) -> None:
    money = Money(mills, currency)
    assert Money.parse(str(money)) == money
    assert Money.parse(money.format("en_US")) == money
    # fr_FR output also parses, except "1,001 €"-like amounts, which are refused as ambiguous


# -- arithmetic and comparison ---------------------------------------------------------------


def test_add_and_subtract_same_currency() -> None:
    assert usd("1.005") + usd("2") == usd("3.005")
    assert usd("1") - usd("2.5") == usd("-1.5")


@pytest.mark.parametrize(
    "operation",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
    ],
)
def test_mixed_currencies_are_refused(operation: Any) -> None:
    with pytest.raises(ValidationError) as info:
        operation(usd("1"), eur("1"))
    assert info.value.code == "currency_mismatch"


def test_equality_across_currencies_is_false() -> None:
    assert usd("1") != eur("1")
    assert usd("1") == Money(1000, "USD")
    assert hash(usd("1")) == hash(Money(1000, "USD"))


@pytest.mark.parametrize("other", [1, 1.0, Decimal(1), "1"])
def test_adding_plain_numbers_is_a_type_error(other: Any) -> None:
    money = usd("1")
    with pytest.raises(TypeError):
        money + other
    with pytest.raises(TypeError):
        other + money
    with pytest.raises(TypeError):
        money - other
    with pytest.raises(TypeError):
        _ = money < other


def test_ordering() -> None:
    assert usd("1") < usd("1.001") <= usd("1.001")
    assert usd("2") > usd("-2") >= usd("-2")
    assert max(usd("1"), usd("3"), usd("2")) == usd("3")


def test_unary_operations_and_truthiness() -> None:
    assert -usd("1.5") == usd("-1.5")
    assert abs(usd("-1.5")) == usd("1.5")
    assert +usd("1") == usd("1")
    assert not Money.zero("USD")
    assert usd("0.001")


def test_sign_helpers() -> None:
    assert Money.zero("USD").is_zero
    assert usd("-0.001").is_negative
    assert not usd("-0.001").is_positive
    assert usd("0.001").is_positive
    assert not usd("0.001").is_zero


def test_multiply_by_int_only() -> None:
    assert usd("0.125") * 3 == usd("0.375")
    assert 3 * usd("0.125") == usd("0.375")
    assert usd("1") * -2 == usd("-2")
    for bad in (1.5, Decimal("1.5"), True):
        with pytest.raises(TypeError):
            usd("1") * bad
        with pytest.raises(TypeError):
            bad * usd("1")


def test_money_is_immutable() -> None:
    money = usd("1")
    with pytest.raises(AttributeError):
        setattr(money, "mills", 5)  # noqa: B010


# -- allocation -----------------------------------------------------------------------------


def test_allocate_gives_left_over_mills_to_largest_remainders() -> None:
    assert Money(100, "USD").allocate([1, 1, 1]) == [
        Money(34, "USD"),
        Money(33, "USD"),
        Money(33, "USD"),
    ]
    # 5 mills at 3:7 -> 1.5 and 3.5: tie on remainder, the earlier part gets the extra mill
    assert [m.mills for m in Money(5, "USD").allocate([3, 7])] == [2, 3]
    assert [m.mills for m in Money(10, "USD").allocate([1, 0, 2])] == [3, 0, 7]


def test_allocate_negative_mirrors_positive() -> None:
    assert [m.mills for m in Money(-100, "USD").allocate([1, 1, 1])] == [-34, -33, -33]


def test_split_into_equal_parts() -> None:
    parts = usd("10").split(3)
    assert [m.mills for m in parts] == [3334, 3333, 3333]
    assert sum(parts, Money.zero("USD")) == usd("10")


@pytest.mark.parametrize("ratios", [[], [0, 0], [1, -1], [1.5, 1], [True, 1]])
def test_allocate_refuses_bad_ratios(ratios: Any) -> None:
    with pytest.raises(ValidationError) as info:
        usd("1").allocate(ratios)
    assert info.value.code == "invalid_ratios"


@pytest.mark.parametrize("n", [0, -1, 1.0])
def test_split_refuses_bad_counts(n: Any) -> None:
    with pytest.raises(ValidationError):
        usd("1").split(n)


@given(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=20).filter(any),
)
def test_allocate_never_loses_a_mill(mills: int, ratios: list[int]) -> None:
    money = Money(mills, "USD")
    parts = money.allocate(ratios)
    assert len(parts) == len(ratios)
    assert sum((p.mills for p in parts), 0) == mills
    total = sum(ratios)
    for part, ratio in zip(parts, ratios, strict=True):
        exact = Fraction(abs(mills) * ratio, total)  # within one mill of the exact share
        assert abs(abs(part.mills) - exact) < 1
        assert part.currency == "USD"
        assert (part.mills == 0) or ((part.mills < 0) == (mills < 0))
        if ratio == 0:
            assert part.is_zero
