"""The invoice PDF read back with pypdf: its figures, parties, numbers and dates, in
English and in French (no I/O beyond memory)."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal

from pypdf import PdfReader

from postroom.core.billing.document import amount, invoice_pdf
from postroom.core.billing.model import (
    Invoice,
    InvoiceKind,
    LineItem,
    Party,
    TaxRate,
    check_items,
    price_lines,
)
from postroom.core.money import Money


def invoice(language: str, currency: str = "EUR", lines: int = 2) -> Invoice:
    items = check_items(
        [
            LineItem(f"Cartouche d'encre n°{n}", n, Money(12_345, currency))
            for n in range(1, lines + 1)
        ],
        currency,
    )
    return Invoice(
        id=1,
        number="INV-2026-000042",
        kind=InvoiceKind.SUPPLIES,
        customer_number="1000000009",
        customer=Party("Café Étoile SARL", ("5 Rue de la Paix", "75002 Paris")),
        seller=Party("postroom data center", ("1 Main St",), "FR12345678901"),
        currency=currency,
        issued_on=date(2026, 3, 2),
        due_on=date(2026, 4, 1),
        lines=price_lines(items, [TaxRate("TVA", Decimal("20"))]),
        reference="order:1",
        installation_number="12345678903",
        language=language,
        created_at=datetime.fromisoformat("2026-03-02T09:30:00+00:00"),
    )


def text_of(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_the_english_pdf_carries_every_figure_and_party():
    document = invoice("en")
    text = text_of(invoice_pdf(document, "https://portal.example/billing/invoices/INV-2026-000042"))
    assert "INVOICE INV-2026-000042" in text
    for wanted in (
        "postroom data center",
        "FR12345678901",
        "Café Étoile SARL",
        "75002 Paris",
        "1000000009",
        "Installation account number: 12345678903",
        "Issue date: 2026-03-02",
        "Due date: 2026-04-01",
        "12.345 EUR",  # the unit price keeps its mills
        amount(document.net, "en"),
        amount(document.tax, "en"),
        amount(document.total, "en"),
        "TVA 20 %",
        "https://portal.example/billing/invoices/INV-2026-000042",
    ):
        assert wanted in text, wanted
    # 1 x 12.345 = 12.35 (rounded) and 2 x 12.345 = 24.69; TVA 2.47 + 4.94
    assert document.total == Money(44_450, "EUR")
    assert "44.45 EUR" in text


def test_the_french_pdf_speaks_french():
    text = text_of(invoice_pdf(invoice("fr"), "https://portal.example/x"))
    for wanted in (
        "FACTURE INV-2026-000042",
        "Date d'échéance: 01/04/2026",
        "Numéro de compte d'installation: 12345678903",
        "Total à payer",
        "44,45 EUR",
        "Payez en ligne",
    ):
        assert wanted in text, wanted


def test_a_long_invoice_runs_over_pages_with_its_totals_on_the_last():
    pdf = invoice_pdf(invoice("en", lines=80), "https://portal.example/x")
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) > 1
    assert "Total due" in reader.pages[-1].extract_text()
    assert reader.pages[0].extract_text().rstrip().endswith(f"1/{len(reader.pages)}")
