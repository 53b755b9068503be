"""The rating engine on the real USPS table and on test fixtures: prices to the cent."""

from datetime import date
from fractions import Fraction
from pathlib import Path

import pytest

from postroom.core.errors import NotFound, ValidationError
from postroom.core.money import Money
from postroom.core.rates.model import (
    CompiledTable,
    Piece,
    RateBook,
    quote,
    weight_ng,
)
from postroom.core.rates.tablefile import parse_rate_file
from postroom.core.units import Dimensions, Weight
from postroom.plugins.usps import rate_files

DATA = Path(__file__).resolve().parents[1] / "data" / "rates"
ZONED = (DATA / "testpost-2025.toml").read_text("utf-8")
NEWER_LETTER = (DATA / "testpost-2026.toml").read_text("utf-8")
ZONES_CSV = (DATA / "testpost-zones.csv").read_text("utf-8")


@pytest.fixture(scope="module")
def usps() -> RateBook:
    tables = []
    for source in rate_files("postroom.plugins.usps"):
        tables += parse_rate_file(source.read_text(), source.name)
    return RateBook.of(tables)


@pytest.fixture(scope="module")
def test_book() -> RateBook:
    return RateBook.of(parse_rate_file(ZONED) + parse_rate_file(NEWER_LETTER))


def letter(book: RateBook, day: date = date(2025, 8, 1)):
    return book.in_force("usps", "first-class-letter", day)


def price(book, text, extras=(), **piece):
    return quote(letter(book), Piece(Weight.parse(text), **piece), extras).total


def test_a_1_oz_metered_letter_costs_0_74_usd(usps):
    assert price(usps, "1 oz") == Money.of("0.74", "USD")


def test_a_1_2_oz_metered_letter_is_charged_as_2_oz_and_costs_1_03_usd(usps):
    result = quote(letter(usps), Piece(Weight.parse("1.2oz")))
    assert result.total == Money.of("1.03", "USD")
    assert str(result.charged_weight) == "2 oz"
    assert "1.2 oz charged as 2 oz" in result.lines[0].description


def test_certified_with_return_receipt_on_a_1_2_oz_letter_costs_10_73_usd(usps):
    result = quote(letter(usps), Piece(Weight.parse("1.2oz")), ["certified", "return-receipt"])
    assert result.total == Money.of("10.73", "USD")
    assert [(line.code, line.amount.amount) for line in result.lines] == [
        ("first-class-letter", "1.03"),
        ("certified", "5.30"),
        ("return-receipt", "4.40"),
    ]
    assert all(line.rule for line in result.lines)


def test_electronic_return_receipt_costs_2_82_usd(usps):
    total = price(usps, "1oz", ["certified", "return-receipt-electronic"])
    assert total == Money.of("8.86", "USD")  # 0.74 + 5.30 + 2.82


def test_a_return_receipt_needs_certified_mail(usps):
    with pytest.raises(ValidationError) as error:
        price(usps, "1oz", ["return-receipt"])
    assert error.value.code == "extra_requires"


def test_an_unknown_extra_is_refused_by_name(usps):
    with pytest.raises(ValidationError, match="registered") as error:
        price(usps, "1oz", ["registered"])
    assert error.value.code == "unknown_extra"


@pytest.mark.parametrize(
    ("weight", "expected"),
    [
        ("28.349523125 g", "0.74"),  # exactly one ounce, entered in grams
        ("28.35 g", "1.03"),  # a hair over one ounce
        ("0.0625 lb", "0.74"),  # one ounce in pounds
        ("2oz", "1.03"),
        ("2.01oz", "1.32"),
        ("3.5oz", "1.61"),
        ("0.1 g", "0.74"),
    ],
)
def test_weights_round_up_to_the_next_ounce_exactly_whatever_the_unit(usps, weight, expected):
    assert price(usps, weight) == Money.of(expected, "USD")


def test_a_letter_over_3_5_oz_is_refused_with_the_limit_in_the_message(usps):
    with pytest.raises(ValidationError, match=r"at most 3\.5 oz") as error:
        price(usps, "3.51oz")
    assert error.value.code == "over_limit"


def test_zero_weight_is_refused(usps):
    with pytest.raises(ValidationError) as error:
        price(usps, "0 oz")
    assert error.value.code == "invalid_weight"


def test_a_letter_thicker_than_a_quarter_inch_is_refused(usps):
    with pytest.raises(ValidationError, match=r"thickness over the maximum of 0\.25 in"):
        price(usps, "1oz", dimensions=Dimensions.parse("9.5 x 4.125 x 0.3 in"))


def test_dimensions_are_checked_whatever_the_order_they_are_given_in(usps):
    dims = Dimensions.parse("0.1 x 9.5 x 4.125 in")
    assert price(usps, "1oz", dimensions=dims) == Money.of("0.74", "USD")


def test_a_postcard_costs_0_61_usd(usps):
    table = usps.in_force("usps", "postcard", date(2025, 8, 1))
    card = Piece(Weight.parse("5 g"), Dimensions.parse("6x4.25x0.01in"))
    assert quote(table, card).total == Money.of("0.61", "USD")


def test_an_unmeasured_card_has_no_postcard_price_as_in_compare(usps):
    table = usps.in_force("usps", "postcard", date(2025, 8, 1))
    with pytest.raises(ValidationError) as refused:
        quote(table, Piece(Weight.parse("5 g")))
    assert refused.value.code == "dimensions_required"


def test_nonmachinable_on_a_table_without_its_surcharge_is_refused_not_ignored(usps):
    table = usps.in_force("usps", "first-class-letter", date(2025, 8, 1))
    with pytest.raises(ValidationError) as refused:
        quote(table, Piece(Weight.parse("1 oz"), machinable=False))
    assert refused.value.code == "nonmachinable_not_priced"


def test_a_date_before_any_table_is_refused(usps):
    with pytest.raises(NotFound, match="2025-07-13") as error:
        letter(usps, date(2025, 7, 12))
    assert error.value.code == "no_rate_table"


def test_unknown_carrier_and_service_have_distinct_codes(usps):
    with pytest.raises(NotFound) as error:
        usps.in_force("fedup", "letter", date(2025, 8, 1))
    assert error.value.code == "unknown_carrier"
    with pytest.raises(NotFound) as error:
        usps.in_force("usps", "teleport", date(2025, 8, 1))
    assert error.value.code == "unknown_service"
    assert "first-class-letter" in error.value.message


def test_the_table_in_force_on_a_date_is_used(test_book):
    old = test_book.in_force("testpost", "letter", date(2025, 12, 31))
    new = test_book.in_force("testpost", "letter", date(2026, 1, 1))
    piece = Piece(Weight.parse("30 g"))
    assert quote(old, piece).total == Money.of("1.50", "USD")
    assert quote(new, piece).total == Money.of("1.65", "USD")


def test_zone_prices_by_bracket(test_book):
    table = test_book.in_force("testpost", "parcel", date(2025, 6, 1))
    assert quote(table, Piece(Weight.parse("8 oz")), zone="3").total.amount == "7.00"
    assert quote(table, Piece(Weight.parse("8.1 oz")), zone="3").total.amount == "10.00"
    assert quote(table, Piece(Weight.parse("2 lb")), zone="1").total.amount == "12.00"


def test_a_zoned_service_needs_a_known_zone(test_book):
    table = test_book.in_force("testpost", "parcel", date(2025, 6, 1))
    with pytest.raises(ValidationError) as error:
        quote(table, Piece(Weight.parse("1 lb")))
    assert error.value.code == "zone_required"
    with pytest.raises(ValidationError) as error:
        quote(table, Piece(Weight.parse("1 lb")), zone="9")
    assert error.value.code == "unknown_zone"


def test_insurance_is_priced_by_declared_value_bracket(test_book):
    table = test_book.in_force("testpost", "parcel", date(2025, 6, 1))

    def insured(value):
        piece = Piece(Weight.parse("1 lb"), declared_value=Money.of(value, "USD"))
        return quote(table, piece, ["insurance"], zone="1")

    assert insured("100.00").total.amount == "10.00"
    assert insured("100.01").total.amount == "14.50"
    with pytest.raises(ValidationError, match=r"at most 500\.00 USD"):
        insured("500.01")


def test_a_nonmachinable_letter_carries_the_surcharge_as_its_own_line(test_book):
    table = test_book.in_force("testpost", "letter", date(2025, 6, 1))
    result = quote(table, Piece(Weight.parse("10 g"), machinable=False))
    assert result.total.amount == "1.40"
    assert result.lines[1].kind == "surcharge"
    assert result.lines[1].rule.startswith("surcharge.nonmachinable")


def test_the_compiled_batch_path_agrees_with_single_quotes(usps):
    table = letter(usps)
    compiled = CompiledTable(table)
    weights = [Weight.parse(f"{tenths / 10}oz") for tenths in range(1, 36)]
    batch = compiled.rate_many(weight_ng(w) for w in weights)
    assert batch == [quote(table, Piece(w)).total.mills for w in weights]


def test_a_batch_with_one_piece_over_the_limit_names_that_piece(usps):
    compiled = CompiledTable(letter(usps))
    with pytest.raises(ValidationError, match="piece 2"):
        compiled.rate_many([weight_ng(Weight.parse("1oz")), weight_ng(Weight.parse("4oz"))])


def test_weight_in_nanograms_rounds_up_a_weight_with_no_exact_decimal_form():
    assert weight_ng(Weight(Fraction(1, 3))) == 333_333_334
    assert weight_ng(Weight.parse("1 oz")) == 28_349_523_125


def test_a_20_g_lettre_verte_costs_1_39_eur_and_21_g_is_refused():
    tables = []
    for source in rate_files("postroom.plugins.laposte"):
        tables += parse_rate_file(source.read_text(), source.name)
    table = RateBook.of(tables).in_force("laposte", "lettre-verte", date(2025, 3, 1))
    assert quote(table, Piece(Weight.parse("20 g"))).total == Money.of("1.39", "EUR")
    with pytest.raises(ValidationError, match="at most 20 g"):
        quote(table, Piece(Weight.parse("21 g")))


@pytest.mark.parametrize(
    ("service", "weight", "price"),
    [
        ("lettermail-booklet-stamp", "30 g", "1.24"),
        ("lettermail-single-stamp", "30 g", "1.44"),
        ("lettermail-booklet-stamp", "30.1 g", "1.75"),
        ("lettermail-single-stamp", "1.5 oz", "1.75"),
    ],
)
def test_canada_post_lettermail_2025_stamp_prices(service, weight, price):
    tables = []
    for source in rate_files("postroom.plugins.canadapost"):
        tables += parse_rate_file(source.read_text(), source.name)
    table = RateBook.of(tables).in_force("canadapost", service, date(2025, 3, 1))
    assert quote(table, Piece(Weight.parse(weight))).total == Money.of(price, "CAD")
    with pytest.raises(ValidationError, match="at most 50 g"):
        quote(table, Piece(Weight.parse("51 g")))


def test_a_quote_names_the_tables_digest_computed_once_per_compiled_table(usps):
    table = letter(usps)
    compiled = CompiledTable(table)
    first = quote(table, Piece(Weight.parse("1.2oz")), compiled=compiled)
    again = quote(table, Piece(Weight.parse("3 oz")), compiled=compiled)
    assert first.table.digest == again.table.digest == table.digest == compiled.digest
    # a digest handed in (the service's, read from the database) is the one named
    assert CompiledTable(table, "d" * 64).digest == "d" * 64


def test_the_remembered_weight_text_is_the_weights_own_text():
    from postroom.core.rates.model import weight_text

    for text in ("1.2oz", "35 g", "1 lb 4 oz", "0.125 kg"):
        weight = Weight.parse(text)
        assert weight_text(weight) == str(weight)
        assert weight_text(weight) == str(weight)  # second time from the cache, same text
