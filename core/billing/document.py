"""An invoice or credit note as a PDF document (fpdf2), in the invoice's language.

It carries what the customer and an auditor need: the seller and the customer, the
customer number and the equipment's 11-digit installation account number, every line
with its quantity, unit price, net and tax, the taxes summed per rate, the totals, the
issue and due dates, and how to pay. Amounts are written with the currency's code and
the language's separators (``1,234.56 USD``, ``1 234,56 EUR``).

The PDF's standard fonts cover Latin-1 (French included); a character outside it is
printed as ``?`` rather than failing the document.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from postroom.core.billing.model import Invoice, InvoiceStatus
from postroom.core.money import Money

if TYPE_CHECKING:
    from fpdf import FPDF

LABELS = {
    "en": {
        "invoice": "INVOICE",
        "credit_note": "CREDIT NOTE",
        "number": "Number",
        "issued": "Issue date",
        "due": "Due date",
        "seller": "From",
        "customer": "Bill to",
        "customer_number": "Customer number",
        "installation": "Installation account number",
        "tax_id": "Tax ID",
        "description": "Description",
        "quantity": "Qty",
        "unit_price": "Unit price",
        "net": "Net",
        "tax": "Tax",
        "total": "Total",
        "subtotal": "Total before tax",
        "total_due": "Total due",
        "corrects": "Corrects invoice",
        "reason": "Reason",
        "paid": "PAID",
        "pay": "Pay online in your account at {link} or by bank transfer quoting {number}.",
        "credit": "This credit note is deducted from what your account owes.",
        "paid_with": "Paid on {day} with {how} (payment {payment}). Nothing is due.",
        "paid_on": "Paid on {day} (payment {payment}). Nothing is due.",
        "page": "Page",
    },
    "fr": {
        "invoice": "FACTURE",
        "credit_note": "AVOIR",
        "number": "Numéro",
        "issued": "Date d'émission",
        "due": "Date d'échéance",
        "seller": "Émetteur",
        "customer": "Facturé à",
        "customer_number": "Numéro client",
        "installation": "Numéro de compte d'installation",
        "tax_id": "N° TVA",
        "description": "Désignation",
        "quantity": "Qté",
        "unit_price": "Prix unitaire",
        "net": "HT",
        "tax": "Taxes",
        "total": "TTC",
        "subtotal": "Total HT",
        "total_due": "Total à payer",
        "corrects": "Corrige la facture",
        "reason": "Motif",
        "paid": "PAYÉE",
        "pay": "Payez en ligne dans votre compte sur {link} ou par virement en indiquant "
        "la référence {number}.",
        "credit": "Cet avoir est déduit des sommes dues par votre compte.",
        "paid_with": "Payée le {day} par {how} (paiement {payment}). Rien n'est dû.",
        "paid_on": "Payée le {day} (paiement {payment}). Rien n'est dû.",
        "page": "Page",
    },
}


def amount(money: Money, language: str, *, mills: bool = False) -> str:
    """``1,234.56 USD`` (en) or ``1 234,56 EUR`` (fr); unit prices keep their mills
    when they have some."""
    places = 3 if mills and money.mills % 10 else 2
    text = f"{abs(money.decimal):,.{places}f}"
    if language == "fr":
        text = text.replace(",", " ").replace(".", ",")
    return f"{'-' if money.mills < 0 else ''}{text} {money.currency}"


def percent(value: Decimal, language: str) -> str:
    text = f"{value.normalize():f}"
    return f"{text.replace('.', ',') if language == 'fr' else text} %"


def day(value: date, language: str) -> str:
    return value.strftime("%d/%m/%Y") if language == "fr" else value.isoformat()


def _latin(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


#: The page's writing area (A4, millimetres): text baselines run from TOP to BOTTOM.
LEFT, RIGHT, TOP, BOTTOM = 15.0, 195.0, 20.0, 275.0
#: Columns of the lines' table: the description's width, then each figure's right edge.
DESCRIPTION_WIDTH = 74.0
FIGURE_EDGES = (105.0, 131.0, 153.0, 174.0, 195.0)


@functools.cache
def _document() -> Callable[[str], FPDF]:
    """The invoice's page class, made on the first PDF: importing fpdf2 (and Pillow)
    costs every process's start about half a second, and most never draw a PDF."""
    from fpdf import FPDF

    class Document(FPDF):
        def __init__(self, footer: str) -> None:
            super().__init__(format="A4")
            self._footer = footer
            self.set_auto_page_break(auto=False)

        def footer(self) -> None:
            # a cell, not ``text``: fpdf2 puts the page count ({nb}) in cells only
            self.set_font("Helvetica", size=7)
            self.set_xy(0, 283)
            self.cell(210, 5, _latin(f"{self._footer} {self.page_no()}/{{nb}}"), align="C")

    return Document


class _Writer:
    """Puts text on the document line by line with ``FPDF.text`` (a string at a
    position: fpdf2's cheapest drawing call, no cell layout), breaking pages itself."""

    def __init__(self, pdf: FPDF) -> None:
        self.pdf = pdf
        self.y = TOP
        self._font: tuple[float, bool] | None = None

    def font(self, size: float, *, bold: bool = False) -> None:
        if self._font != (size, bold):
            self.pdf.set_font("Helvetica", "B" if bold else "", size)
            self._font = (size, bold)

    def put(self, x: float, text: str, *, right: bool = False) -> None:
        clean = _latin(text)
        if right:
            x -= self.pdf.get_string_width(clean)
        self.pdf.text(x, self.y, clean)

    def down(self, height: float) -> None:
        self.y += height
        if self.y > BOTTOM:
            self.pdf.add_page()
            self._font = None
            self.y = TOP

    def rule(self) -> None:
        self.pdf.line(LEFT, self.y + 1.5, RIGHT, self.y + 1.5)

    def wrapped(self, text: str, width: float) -> list[str]:
        """``text`` broken into lines of at most ``width`` millimetres at spaces."""
        lines: list[str] = []
        current = ""
        for word in _latin(text).split(" "):
            candidate = f"{current} {word}" if current else word
            if current and self.pdf.get_string_width(candidate) > width:
                lines.append(current)
                current = word
            else:
                current = candidate
        return [*lines, current]


def invoice_pdf(invoice: Invoice, payment_link: str, paid_with: str | None = None) -> bytes:
    """The PDF of ``invoice`` in its language; ``payment_link`` is where it is paid,
    ``paid_with`` what paid it (an instrument's label) once it is paid."""
    language = invoice.language if invoice.language in LABELS else "en"
    label = LABELS[language]
    pdf = _document()(f"{invoice.number} - {label['page']}")
    pdf.set_title(invoice.number)
    pdf.set_author(_latin(invoice.seller.name))
    pdf.add_page()
    out = _Writer(pdf)

    title = label["credit_note" if invoice.is_credit_note else "invoice"]
    out.font(16, bold=True)
    out.put(LEFT, f"{title} {invoice.number}")
    out.down(8)
    if invoice.status is InvoiceStatus.PAID:
        out.font(11, bold=True)
        out.put(LEFT, label["paid"])
        out.down(6)
    facts = [f"{label['issued']}: {day(invoice.issued_on, language)}"]
    if not invoice.is_credit_note:
        facts.append(f"{label['due']}: {day(invoice.due_on, language)}")
    facts.append(f"{label['customer_number']}: {invoice.customer_number}")
    if invoice.installation_number:
        facts.append(f"{label['installation']}: {invoice.installation_number}")
    if invoice.is_credit_note:
        facts += [
            f"{label['corrects']}: {invoice.related_number}",
            f"{label['reason']}: {invoice.reason}",
        ]
    out.font(9)
    for fact in facts:
        out.put(LEFT, fact)
        out.down(4.5)
    out.down(4)

    # the two parties side by side
    columns = []
    for heading, party in (
        (label["seller"], invoice.seller),
        (label["customer"], invoice.customer),
    ):
        rows = [party.name, *party.address]
        if party.tax_id:
            rows.append(f"{label['tax_id']}: {party.tax_id}")
        columns.append((heading, rows))
    out.font(9, bold=True)
    for column, (heading, _) in enumerate(columns):
        out.put(LEFT + column * 95, heading)
    out.font(9)
    for row in range(max(len(rows) for _, rows in columns)):
        out.down(4.5)
        for column, (_, rows) in enumerate(columns):
            if row < len(rows):
                out.put(LEFT + column * 95, rows[row])
    out.down(10)

    heads = ("quantity", "unit_price", "net", "tax", "total")
    out.font(8, bold=True)
    out.put(LEFT, label["description"])
    for edge, head in zip(FIGURE_EDGES, heads, strict=True):
        out.put(edge, label[head], right=True)
    out.rule()
    out.down(6)
    out.font(8)
    for item in invoice.lines:
        figures = (
            str(item.quantity),
            amount(item.unit_price, language, mills=True),
            amount(item.net, language),
            amount(item.tax, language),
            amount(item.total, language),
        )
        for edge, text in zip(FIGURE_EDGES, figures, strict=True):
            out.put(edge, text, right=True)
        for number, part in enumerate(out.wrapped(item.describe(language), DESCRIPTION_WIDTH)):
            if number:
                out.down(4)
            out.put(LEFT, part)
        out.down(5)
    out.down(2)

    def total(text: str, value: Money, *, bold: bool = False) -> None:
        out.font(9, bold=bold)
        out.put(FIGURE_EDGES[2], text, right=True)
        out.put(RIGHT, amount(value, language), right=True)
        out.down(5)

    total(label["subtotal"], invoice.net)
    for tax in invoice.tax_summary():
        total(f"{tax.name} {percent(tax.percent, language)}", tax.amount)
    total(
        label["total_due"] if invoice.payable else label["total"],
        invoice.total,
        bold=True,
    )
    out.down(6)
    out.font(9)
    instructions = _instructions(invoice, label, language, payment_link, paid_with)
    for part in out.wrapped(instructions, RIGHT - LEFT):
        out.put(LEFT, part)
        out.down(4.5)
    return bytes(pdf.output())


def _instructions(
    invoice: Invoice,
    label: dict[str, str],
    language: str,
    payment_link: str,
    paid_with: str | None,
) -> str:
    """What the customer does about the document: pay it, nothing (paid: how), or
    deduct it (a credit note)."""
    if invoice.is_credit_note:
        return label["credit"]
    if invoice.status is InvoiceStatus.PAID and invoice.paid_at is not None:
        facts = {"day": day(invoice.paid_at.date(), language), "payment": invoice.payment_id}
        if paid_with:
            return label["paid_with"].format(how=paid_with, **facts)
        return label["paid_on"].format(**facts)
    return label["pay"].format(link=payment_link, number=invoice.number)
