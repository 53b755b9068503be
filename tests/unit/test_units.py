from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postroom.core.errors import ValidationError
from postroom.core.units import Dimensions, LengthUnit, Weight, WeightUnit


def oz(value: int = 1) -> Weight:
    return Weight.of(value, WeightUnit.OZ)


# -- exact definitions ----------------------------------------------------------------------


def test_unit_values() -> None:
    assert [u.value for u in WeightUnit] == ["oz", "lb", "g", "kg"]


def test_exact_definitions() -> None:
    assert Weight.of(1, "oz").grams == Fraction("28.349523125")
    assert Weight.of(1, "lb").grams == Fraction("453.59237")
    assert Weight.of(1, "lb") == Weight.of(16, "oz")
    assert Weight.of(1, "kg") == Weight.of(1000, "g")


def test_one_ounce_read_in_grams_equals_one_ounce() -> None:
    assert Weight.parse("1oz") == Weight.of(Decimal("28.349523125"), "g")
    assert Weight.parse("1.00 oz") == Weight.parse("28.349523125 g")
    assert Weight.parse("1 oz").to("g") == Fraction("28.349523125")


def test_equality_ignores_the_entry_unit_and_hash_agrees() -> None:
    in_lb, in_oz = Weight.parse("2 lb"), Weight.parse("32 oz")
    assert in_lb == in_oz
    assert hash(in_lb) == hash(in_oz)
    assert len({in_lb, in_oz, Weight.parse("907.18474 g")}) == 1
    assert in_lb.unit is WeightUnit.LB
    assert in_oz.unit is WeightUnit.OZ


def test_ordering_compares_exact_quantity_across_units() -> None:
    assert Weight.parse("28.349523124 g") < Weight.parse("1 oz") < Weight.parse("28.349523126 g")
    assert Weight.parse("1 kg") > Weight.parse("2 lb")
    assert Weight.parse("16 oz") <= Weight.parse("1 lb") <= Weight.parse("16 oz")
    assert sorted([Weight.parse("1 lb"), Weight.parse("1 oz"), Weight.parse("1 g")]) == [
        Weight.parse("1 g"),
        Weight.parse("1 oz"),
        Weight.parse("1 lb"),
    ]


# -- parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "unit"),
    [
        ("1.2oz", "1.2", WeightUnit.OZ),
        ("1.2 oz", "1.2", WeightUnit.OZ),
        ("1.2 OZ", "1.2", WeightUnit.OZ),
        ("3 ounces", "3", WeightUnit.OZ),
        ("1 Ounce", "1", WeightUnit.OZ),
        ("35 g", "35", WeightUnit.G),
        ("35 grams", "35", WeightUnit.G),
        ("0.5kg", "0.5", WeightUnit.KG),
        ("2 Kilograms", "2", WeightUnit.KG),
        ("2 lb", "2", WeightUnit.LB),
        ("2 lbs", "2", WeightUnit.LB),
        ("2.5 pounds", "2.5", WeightUnit.LB),
        (".5 lb", "0.5", WeightUnit.LB),
        ("0 g", "0", WeightUnit.G),
        ("  7 g  ", "7", WeightUnit.G),
    ],
)
def test_parse_forms(text: str, value: str, unit: WeightUnit) -> None:
    weight = Weight.parse(text)
    assert weight == Weight.of(Decimal(value), unit)
    assert weight.unit is unit


def test_parse_compound() -> None:
    weight = Weight.parse("1 lb 4 oz")
    assert weight == Weight.of(20, "oz")
    assert weight.unit is WeightUnit.OZ
    assert Weight.parse("1lb 0.5oz") == Weight.parse("16.5 oz")
    assert Weight.parse("1 kg 250 g") == Weight.parse("1.25 kg")


def test_parse_bare_number_with_default_unit() -> None:
    assert Weight.parse("12", default_unit="oz") == Weight.of(12, "oz")
    with pytest.raises(ValidationError) as info:
        Weight.parse("12")
    assert info.value.code == "invalid_weight"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "oz",
        "abc",
        "abc oz",
        "-1 oz",
        "- 1 oz",
        "1.2.3 oz",
        "1,5 kg",  # only '.' is a decimal separator
        "1e3 g",
        "1E3 g",
        "nan g",
        "inf oz",
        "1 lb 4",
        "1 oz 2 oz",
        "oz 12",
    ],
)
def test_parse_refuses_invalid_weights(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        Weight.parse(text)
    assert info.value.code == "invalid_weight"


@pytest.mark.parametrize("text", ["12 stone", "12 xyz", "1 lb 4 grains", "5 mg"])
def test_parse_unknown_unit(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        Weight.parse(text)
    assert info.value.code == "unknown_unit"


def test_floats_are_refused() -> None:
    a_float: Any = 1.2
    with pytest.raises(ValidationError) as info:
        Weight.parse(a_float)
    assert info.value.code == "float_not_allowed"
    with pytest.raises(ValidationError) as info:
        Weight.of(a_float, "oz")
    assert info.value.code == "float_not_allowed"


def test_of_accepts_exact_types_and_refuses_bad_values() -> None:
    assert Weight.of(Fraction(1, 2), WeightUnit.LB) == Weight.of(8, "oz")
    assert Weight.of("0.5", "lb") == Weight.of(Decimal("0.5"), "pound")
    for bad in (Decimal("NaN"), Decimal("-1"), -1, "1/2", True):
        with pytest.raises(ValidationError) as info:
            Weight.of(bad, "g")
        assert info.value.code == "invalid_weight"
    with pytest.raises(ValidationError) as info:
        Weight.of(1, "stone")
    assert info.value.code == "unknown_unit"


def test_require_positive() -> None:
    assert Weight.parse("1 g").require_positive() == Weight.parse("1 g")
    with pytest.raises(ValidationError) as info:
        Weight.parse("0 oz").require_positive()
    assert info.value.code == "invalid_weight"


# -- conversion -----------------------------------------------------------------------------


def test_to_is_exact() -> None:
    assert Weight.parse("1 lb").to(WeightUnit.OZ) == 16
    assert Weight.parse("1 kg").to("lb") == Fraction(100_000_000, 45_359_237)
    assert Weight.parse("1.2 oz").to("oz") == Fraction(6, 5)


def test_to_decimal_exact_and_rounded() -> None:
    assert Weight.parse("1 oz").to_decimal("g") == Decimal("28.349523125")
    assert Weight.parse("2 lb").to_decimal("kg") == Decimal("0.90718474")
    assert Weight.parse("1.2 oz").to_decimal() == Decimal("1.2")  # default: the entry unit
    assert Weight.parse("1 oz").to_decimal("g", places=2) == Decimal("28.35")
    assert Weight.parse("1 kg").to_decimal("lb", places=3) == Decimal("2.205")
    assert Weight.parse("0.0125 g").to_decimal("g", places=3) == Decimal("0.013")  # half up
    assert Weight.parse("0.0125 g").to_decimal("g", places=0) == Decimal("0")
    with pytest.raises(ValueError, match="places"):
        Weight.parse("1 kg").to_decimal("lb")  # 1 kg has no finite decimal form in pounds


@pytest.mark.parametrize(
    ("weight", "step", "steps"),
    [
        ("1.2 oz", "1 oz", 2),
        ("1 oz", "1 oz", 1),
        ("28.349523125 g", "1 oz", 1),
        ("28.349523126 g", "1 oz", 2),
        ("28.349523124 g", "1 oz", 1),
        ("0 g", "1 oz", 0),
        ("0.001 g", "1 oz", 1),
        ("1 lb", "1 oz", 16),
        ("1 lb 0.01 oz", "1 oz", 17),
        ("3.5 oz", "0.5 oz", 7),
        ("1 kg", "1 lb", 3),
        ("13 oz", "1 lb", 1),
    ],
)
def test_ceil_rounds_up_exactly(weight: str, step: str, steps: int) -> None:
    assert Weight.parse(weight).ceil(Weight.parse(step)) == steps


def test_ceil_refuses_zero_step() -> None:
    with pytest.raises(ValidationError) as info:
        oz().ceil(Weight.parse("0 g"))
    assert info.value.code == "invalid_weight"


@given(
    st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False, allow_infinity=False),
    st.sampled_from(list(WeightUnit)),
    st.sampled_from(list(WeightUnit)),
)
def test_round_trips_between_units_are_exact(
    value: Decimal, unit: WeightUnit, via: WeightUnit
) -> None:
    weight = Weight.of(value, unit)
    assert Weight.of(weight.to(via), via) == weight
    assert Weight.of(weight.to_decimal(unit), unit) == weight
    assert weight.to_decimal(unit) == value


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [
        ("1 lb", "oz", "16"),
        ("1 lb", "g", "453.59237"),
        ("1 lb", "kg", "0.45359237"),
        ("16 oz", "lb", "1"),
        ("453.59237 g", "lb", "1"),
        ("0.45359237 kg", "oz", "16"),
    ],
)
def test_lb_oz_kg_round_trips(text: str, unit: str, expected: str) -> None:
    weight = Weight.parse(text)
    assert weight.to_decimal(unit) == Decimal(expected)
    assert Weight.of(Decimal(expected), unit) == weight


def test_json_and_back() -> None:
    assert Weight.parse("1.2 oz").json() == {"value": "1.2", "unit": "oz"}
    assert Weight.parse("35 g").json() == {"value": "35", "unit": "g"}
    assert Weight.parse("1 lb 4 oz").json() == {"value": "20", "unit": "oz"}
    weight = Weight.parse("0.5kg")
    assert Weight.from_json(weight.json()) == weight
    assert str(weight) == "0.5 kg"


def test_json_falls_back_to_grams_when_the_entry_unit_cannot_say_it_exactly() -> None:
    weight = Weight.parse("1 oz") + Weight.parse("1 g")  # 1 + 1/28.349523125 oz
    assert weight.unit is WeightUnit.OZ
    assert weight.json() == {"value": "29.349523125", "unit": "g"}
    assert Weight.from_json(weight.json()) == weight


# -- arithmetic -----------------------------------------------------------------------------


def test_arithmetic() -> None:
    assert Weight.parse("1 lb") + Weight.parse("4 oz") == Weight.parse("20 oz")
    assert Weight.parse("1 lb") - Weight.parse("4 oz") == Weight.parse("12 oz")
    assert oz() * 16 == Weight.parse("1 lb")
    assert 16 * oz() == Weight.parse("1 lb")
    assert (Weight.parse("1 lb") + oz()).unit is WeightUnit.LB
    assert not Weight.zero()
    assert oz()


def test_subtraction_below_zero_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        oz() - Weight.parse("1 lb")
    assert info.value.code == "invalid_weight"


@pytest.mark.parametrize("other", [1, 1.5, Decimal(1), Fraction(1, 2), "1 oz"])
def test_weights_do_not_mix_with_plain_numbers(other: Any) -> None:
    with pytest.raises(TypeError):
        oz() + other
    with pytest.raises(TypeError):
        _ = oz() < other
    if not isinstance(other, int):
        with pytest.raises(TypeError):
            oz() * other


# -- dimensions -----------------------------------------------------------------------------


def test_dimensions_parse_inches() -> None:
    dims = Dimensions.parse("11.5x6.125x0.25 in")
    assert dims.inches == (Fraction("11.5"), Fraction("6.125"), Fraction("0.25"))
    assert dims.millimetres == (Fraction("292.1"), Fraction("155.575"), Fraction("6.35"))
    assert dims.unit is LengthUnit.IN


@pytest.mark.parametrize(
    "text",
    [
        "290 x 150 x 5 mm",
        "290x150x5mm",
        "290 X 150 X 5 MM",
        "29 x 15 x 0.5 cm",
        "29\u00d715\u00d70.5 cm",
        "290*150*5 millimetres",
    ],
)
def test_dimensions_parse_metric(text: str) -> None:
    dims = Dimensions.parse(text)
    assert dims.millimetres == (290, 150, 5)
    assert dims == Dimensions.of(290, 150, 5, LengthUnit.MM)


def test_dimensions_equal_across_units() -> None:
    assert Dimensions.parse("1 x 2 x 3 in") == Dimensions.parse("25.4 x 50.8 x 76.2 mm")
    assert Dimensions.parse('10 x 8 x 2"') == Dimensions.parse("10x8x2 inches")


def test_dimensions_bare_numbers_need_default_unit() -> None:
    assert Dimensions.parse("1x2x3", default_unit="in").inches == (1, 2, 3)
    with pytest.raises(ValidationError) as info:
        Dimensions.parse("1x2x3")
    assert info.value.code == "invalid_dimensions"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1x2 in",
        "1x2x3x4 in",
        "a x 2 x 3 in",
        "0x2x3 in",
        "-1x2x3 in",
        "1,5x2x3 cm",
        "1e2x2x3 mm",
    ],
)
def test_dimensions_parse_refuses_bad_input(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        Dimensions.parse(text)
    assert info.value.code == "invalid_dimensions"


def test_dimensions_unknown_unit_and_floats() -> None:
    a_float: Any = 1.5
    with pytest.raises(ValidationError) as info:
        Dimensions.parse("1x2x3 ft")
    assert info.value.code == "unknown_unit"
    with pytest.raises(ValidationError) as info:
        Dimensions.of(a_float, 2, 3, "in")
    assert info.value.code == "float_not_allowed"


def test_dimensions_validators_require_positive_fractions() -> None:
    not_a_fraction: Any = 1.0
    with pytest.raises(ValidationError) as info:
        Dimensions(Fraction(1), Fraction(0), Fraction(1))
    assert info.value.code == "invalid_dimensions"
    with pytest.raises(ValidationError):
        Dimensions(not_a_fraction, Fraction(1), Fraction(1))


def test_dimensions_sorted_longest_first() -> None:
    dims = Dimensions.parse("0.25 x 11.5 x 6.125 in").sorted()
    assert dims.inches == (Fraction("11.5"), Fraction("6.125"), Fraction("0.25"))
    assert dims.unit is LengthUnit.IN
    assert Dimensions.parse("5x290x150 mm").sorted() == Dimensions.parse("290x150x5 mm")


# -- the fast path of parse (one number, one unit) agrees with the exact definition ---------


@given(
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=0, max_value=6),
    st.sampled_from(["oz", "OZ", "ounces", "lb", "lbs", "g", "grams", "kg", "Kilo"]),
    st.sampled_from(["", " ", "  "]),
)
def test_parse_of_a_simple_weight_is_exact_whatever_the_spelling(
    digits: int, places: int, unit: str, space: str
) -> None:
    number = Decimal(digits).scaleb(-places)
    text = f"{number:f}{space}{unit}"
    parsed = Weight.parse(f" {text} ")
    assert parsed == Weight.of(number, unit)
    assert parsed.grams == Fraction(number) * Weight.of(1, unit).grams
    assert parsed.unit is Weight.of(1, unit).unit


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("1.2 furlongs", "unknown_unit"),
        ("-1 oz", "invalid_weight"),
        ("1e3 g", "invalid_weight"),
        ("1,2 oz", "invalid_weight"),
        ("1.2", "invalid_weight"),
        ("oz", "invalid_weight"),
        ("1 oz 1 oz", "invalid_weight"),
    ],
)
def test_what_the_fast_path_does_not_read_is_still_refused_clearly(text: str, code: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Weight.parse(text)
    assert caught.value.code == code
