"""Billing's pure rules: rounding per line, taxes as data, totals that add up."""

from __future__ import annotations

from datetime import date as day
from decimal import Decimal

import attrs
import pytest

from postroom.core.billing.model import (
    InvoiceLine,
    LineItem,
    LineText,
    Series,
    TaxRate,
    check_items,
    contract_text,
    format_number,
    line_text,
    negated,
    parse_invoice_number,
    price_lines,
    price_one,
    round_to_cents,
    statement_text,
)
from postroom.core.billing.taxes import TaxTable
from postroom.core.errors import ConfigurationError, ValidationError
from postroom.core.money import Money


@pytest.mark.parametrize(
    ("mills", "cents"),
    [(0, 0), (4, 0), (5, 10), (14, 10), (15, 20), (-5, -10), (-4, 0), (12345, 12350)],
)
def test_amounts_round_to_the_cent_half_away_from_zero(mills, cents):
    assert round_to_cents(mills) == cents


def test_each_line_is_rounded_on_its_own_and_the_totals_are_their_sums():
    # 3 x 3.335 = 10.005 -> 10.01 net; TVA 20 % of 10.01 = 2.002 -> 2.00
    items = check_items([LineItem("Labels", 3, Money(3335, "EUR"))] * 2, "EUR")
    lines = price_lines(items, [TaxRate("TVA", Decimal("20"))])
    assert [line.net.mills for line in lines] == [10_010, 10_010]
    assert [line.tax.mills for line in lines] == [2000, 2000]
    assert sum(line.total.mills for line in lines) == 24_020


def test_quebec_charges_gst_and_qst_each_rounded_per_line():
    table = TaxTable.default()
    rates = table.rates_for("CA", "QC")
    assert [(r.name, r.percent) for r in rates] == [
        ("GST", Decimal("5")),
        ("QST", Decimal("9.975")),
    ]
    (line,) = price_lines([LineItem("Lease", 1, Money(99_990, "CAD"))], rates)
    # 99.99 x 5 % = 4.9995 -> 5.00; 99.99 x 9.975 % = 9.974003 -> 9.97
    assert [t.amount.mills for t in line.taxes] == [5000, 9970]


def test_france_is_tva_20_everywhere_and_a_us_state_needs_its_region():
    table = TaxTable.default()
    assert [(r.name, r.percent) for r in table.rates_for("FR", None)] == [("TVA", Decimal("20"))]
    assert [r.percent for r in table.rates_for("US", "ny")] == [Decimal("4")]
    assert table.rates_for("US", "OR") == ()
    assert table.rates_for("DE", None) == ()  # not in the table: no tax
    with pytest.raises(ValidationError) as missing:
        table.rates_for("US", None)
    assert missing.value.code == "billing_region_required"
    with pytest.raises(ValidationError) as unknown:
        table.rates_for("CA", "ZZ")
    assert unknown.value.code == "unknown_region"


def test_a_configured_table_replaces_the_default_and_a_bad_one_is_refused():
    table = TaxTable.from_toml('[US]\nNY = [{ name = "Sales tax", rate = "8.875" }]\n', "t")
    assert table.rates_for("US", "NY")[0].percent == Decimal("8.875")
    for bad in (
        '[US]\nNY = [{ name = "x", rate = 8.875 }]',
        '[US]\nNY = [{ name = "x", rate = "abc" }]',
        '[US]\nNY = [{ name = "x", rate = "120" }]',
        "[US",
    ):
        with pytest.raises(ConfigurationError):
            TaxTable.from_toml(bad, "t")


@pytest.mark.parametrize(
    ("item", "code"),
    [
        (LineItem("Ink", 0, Money(1000, "USD")), "invalid_quantity"),
        (LineItem("Ink", -2, Money(1000, "USD")), "invalid_quantity"),
        (LineItem("Ink", True, Money(1000, "USD")), "invalid_quantity"),
        (LineItem("Ink", 1, Money(-1, "USD")), "invalid_unit_price"),
        (LineItem("Ink", 1, Money(1000, "EUR")), "currency_mismatch"),
        (LineItem("  ", 1, Money(1000, "USD")), "invalid_description"),
        (LineItem("Ink\x00", 1, Money(1000, "USD")), "control_character"),
    ],
)
def test_bad_lines_are_refused_with_a_stable_code(item, code):
    with pytest.raises(ValidationError) as refused:
        check_items([item], "USD")
    assert refused.value.code == code


def test_a_credit_note_negates_every_amount():
    (line,) = price_lines(
        [LineItem("Lease", 2, Money(10_005, "EUR"))], [TaxRate("TVA", Decimal("20"))]
    )
    (back,) = negated([line])
    assert (back.net.mills, back.tax.mills) == (-line.net.mills, -line.tax.mills)


def test_numbers_are_formatted_and_parsed():
    assert format_number(Series.INVOICE, 2026, 42) == "INV-2026-000042"
    assert parse_invoice_number(" inv-2026-000042 ") == "INV-2026-000042"
    assert parse_invoice_number("INV-26-42") is None


@pytest.mark.parametrize("mills", [0, 5, 49_900, 33_335, 1_000_000_000])
def test_a_run_prices_one_unit_as_an_invoice_line_is_priced(mills):
    rates = TaxTable.default().rates_for("CA", "QC")  # GST 5 % and QST 9.975 %
    (line,) = price_lines(check_items([LineItem("Lease", 1, Money(mills, "CAD"))], "CAD"), rates)
    net, taxes, tax = price_one(mills, rates)
    assert (net, tax) == (line.net.mills, line.tax.mills)
    assert taxes == tuple((t.name, t.percent, t.amount.mills) for t in line.taxes)


def test_a_coded_line_reads_in_each_language_and_an_uncoded_one_as_stored():
    lease = contract_text("lease", "PR-1", "PR-VPSD1", "LS-1", (day(2026, 2, 10), day(2026, 3, 9)))
    assert line_text(lease, "fr") == (
        "Location-bail du compteur PR-1 (PR-VPSD1), contrat LS-1, du 10/02/2026 au 09/03/2026"
    )
    assert line_text(lease, "en").startswith("Lease of meter PR-1")
    assert line_text(statement_text("2026-02"), "fr") == (
        "Ligne de crédit d'affranchissement, relevé 2026-02"
    )
    addon = LineText.of("addon", meter="PR-1", name_en="Department accounting", name_fr="")
    assert line_text(addon, "fr") == "Department accounting (PR-1)"  # no French name: English
    free = InvoiceLine(1, "Handling", 1, Money.of("5.00", "EUR"), Money.of("5.00", "EUR"), ())
    assert free.describe("fr") == "Handling"
    unknown = attrs.evolve(free, text=LineText.of("from-a-later-version", x="1"))
    assert unknown.describe("fr") == "Handling"


def test_a_line_of_an_unknown_code_is_refused():
    with pytest.raises(ValidationError) as refused:
        check_items(
            [LineItem("Ink", 1, Money.of("1.00", "EUR"), LineText.of("poem", verse="1"))], "EUR"
        )
    assert refused.value.code == "invalid_lines"
