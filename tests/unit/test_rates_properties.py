"""Properties of the rating engine over many weights (hypothesis)."""

import json
import math
from datetime import date
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from postroom.core.money import Money
from postroom.core.rates.model import (
    CompiledTable,
    Limits,
    Piece,
    RateTable,
    Source,
    StepPricing,
    quote,
    weight_ng,
)
from postroom.core.units import Weight, WeightUnit

OUNCE = Weight.of(1, "oz")
MAX = Weight.of("3.5", "oz")


def letter_table(first: int = 740, additional: int = 290, step: Weight = OUNCE) -> RateTable:
    return RateTable(
        carrier="usps",
        service="first-class-letter",
        name="letter",
        currency="USD",
        effective_from=date(2025, 7, 13),
        source=Source("test", "https://example.invalid"),
        shape="letter",
        limits=Limits(MAX),
        pricing=StepPricing(step, Money(first, "USD"), Money(additional, "USD")),
    )


TABLE = letter_table()
COMPILED = CompiledTable(TABLE)

# any exact weight above zero up to the 3.5 oz limit
weights = st.fractions(min_value=Fraction(1, 10**12), max_value=MAX.grams).map(
    lambda grams: Weight(grams, WeightUnit.G)
)


@given(weights)
def test_the_price_is_the_first_ounce_plus_each_started_ounce(weight):
    started = math.ceil(weight.grams / OUNCE.grams)
    expected = 740 + 290 * (started - 1)
    assert quote(TABLE, Piece(weight), compiled=COMPILED).total.mills == expected


@given(weights, weights)
def test_a_heavier_piece_never_costs_less(a, b):
    light, heavy = sorted([a, b])
    assert COMPILED.price_ng(weight_ng(light)) <= COMPILED.price_ng(weight_ng(heavy))


@given(st.lists(weights, min_size=1, max_size=50))
def test_a_batch_prices_each_piece_as_a_single_quote_would(pieces):
    batch = COMPILED.rate_many(weight_ng(w) for w in pieces)
    assert batch == [quote(TABLE, Piece(w), compiled=COMPILED).total.mills for w in pieces]


@given(
    st.integers(min_value=0, max_value=10**7),
    st.integers(min_value=0, max_value=10**7),
    st.fractions(min_value=Fraction(1, 1000), max_value=MAX.grams),
)
def test_any_step_table_survives_the_canonical_round_trip(first, additional, step_grams):
    table = letter_table(first, additional, Weight(step_grams, WeightUnit.G))
    restored = RateTable.from_canonical(json.loads(table.canonical_json()))
    assert restored == table
    assert restored.digest == table.digest
