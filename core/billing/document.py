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

from datetime import date
from decimal import Decimal

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from postroom.core.billing.model import Invoice, InvoiceStatus
from postroom.core.money import Money

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


class _Document(FPDF):
    def __init__(self, footer: str) -> None:
        super().__init__(format="A4")
        self._footer = footer
        self.set_auto_page_break(auto=True, margin=20)
        self.set_margins(15, 15, 15)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font("Helvetica", size=7)
        self.cell(0, 5, _latin(f"{self._footer} {self.page_no()}/{{nb}}"), align="C")


def invoice_pdf(invoice: Invoice, payment_link: str) -> bytes:
    """The PDF of ``invoice`` in its language; ``payment_link`` is where it is paid."""
    language = invoice.language if invoice.language in LABELS else "en"
    label = LABELS[language]
    pdf = _Document(f"{invoice.number} - {label['page']}")
    pdf.set_title(invoice.number)
    pdf.set_author(_latin(invoice.seller.name))
    pdf.add_page()

    def line(text: str, *, size: float = 9, bold: bool = False, height: float = 4.5) -> None:
        pdf.set_font("Helvetica", "B" if bold else "", size)
        pdf.cell(0, height, _latin(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    title = label["credit_note" if invoice.is_credit_note else "invoice"]
    line(f"{title} {invoice.number}", size=16, bold=True, height=9)
    if invoice.status is InvoiceStatus.PAID:
        line(label["paid"], size=11, bold=True, height=6)
    line(f"{label['issued']}: {day(invoice.issued_on, language)}")
    if not invoice.is_credit_note:
        line(f"{label['due']}: {day(invoice.due_on, language)}")
    line(f"{label['customer_number']}: {invoice.customer_number}")
    if invoice.installation_number:
        line(f"{label['installation']}: {invoice.installation_number}")
    if invoice.is_credit_note:
        line(f"{label['corrects']}: {invoice.related_number}")
        line(f"{label['reason']}: {invoice.reason}")
    pdf.ln(4)

    # the two parties side by side
    top = pdf.get_y()
    for column, (heading, party) in enumerate(
        ((label["seller"], invoice.seller), (label["customer"], invoice.customer))
    ):
        pdf.set_xy(15 + column * 95, top)
        rows = [party.name, *party.address]
        if party.tax_id:
            rows.append(f"{label['tax_id']}: {party.tax_id}")
        pdf.set_font("Helvetica", "B", 9)
        pdf.cell(90, 4.5, _latin(heading), new_x=XPos.LEFT, new_y=YPos.NEXT)
        pdf.set_font("Helvetica", "", 9)
        for row in rows:
            pdf.cell(90, 4.5, _latin(row), new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_xy(15, max(pdf.get_y(), top + 30))
    pdf.ln(4)

    widths = (76, 12, 26, 22, 22, 22)
    heads = ("description", "quantity", "unit_price", "net", "tax", "total")
    pdf.set_font("Helvetica", "B", 8)
    for width, head in zip(widths, heads, strict=True):
        pdf.cell(
            width, 6, _latin(label[head]), border="B", align="L" if head == "description" else "R"
        )
    pdf.ln()
    pdf.set_font("Helvetica", "", 8)
    for item in invoice.lines:
        x, y = pdf.get_x(), pdf.get_y()
        pdf.multi_cell(widths[0], 4.5, _latin(item.description), new_x=XPos.RIGHT, new_y=YPos.TOP)
        after = pdf.get_y()
        height = max(4.5, pdf.get_y() - y)
        pdf.set_xy(x + widths[0], y)
        for width, text in zip(
            widths[1:],
            (
                str(item.quantity),
                amount(item.unit_price, language, mills=True),
                amount(item.net, language),
                amount(item.tax, language),
                amount(item.total, language),
            ),
            strict=True,
        ):
            pdf.cell(width, 4.5, _latin(text), align="R")
        pdf.set_xy(15, max(after, y + height) + 1)
    pdf.ln(2)

    def total(text: str, value: Money, *, bold: bool = False) -> None:
        pdf.set_font("Helvetica", "B" if bold else "", 9)
        pdf.cell(138, 5, _latin(text), align="R")
        pdf.cell(
            42, 5, _latin(amount(value, language)), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )

    total(label["subtotal"], invoice.net)
    for tax in invoice.tax_summary():
        total(f"{tax.name} {percent(tax.percent, language)}", tax.amount)
    total(
        label["total_due"] if not invoice.is_credit_note else label["total"],
        invoice.total,
        bold=True,
    )
    pdf.ln(6)
    pdf.set_font("Helvetica", "", 9)
    instructions = (
        label["credit"]
        if invoice.is_credit_note
        else label["pay"].format(link=payment_link, number=invoice.number)
    )
    pdf.multi_cell(0, 4.5, _latin(instructions))
    return bytes(pdf.output())
