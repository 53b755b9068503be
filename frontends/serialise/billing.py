"""Invoices, credit notes, invoice payments and the account statement as the API and
the CLI's ``--json`` write them, and the statement as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from postroom.core.billing.mandate import DebitMandate
from postroom.core.billing.model import (
    AccountStatement,
    BillingProfile,
    Invoice,
    InvoiceLine,
    InvoicePayment,
    Party,
    TaxAmount,
)
from postroom.frontends.serialise import money, stamp


def _percent(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _tax(tax: TaxAmount) -> dict[str, Any]:
    return {"name": tax.name, "percent": _percent(tax.percent), "amount": money(tax.amount)}


def _party(party: Party) -> dict[str, Any]:
    return {"name": party.name, "address": list(party.address), "tax_id": party.tax_id or None}


def _line(line: InvoiceLine, language: str) -> dict[str, Any]:
    return {
        "position": line.position,
        # in the invoice's language, as its PDF prints it
        "description": line.describe(language),
        "quantity": line.quantity,
        "unit_price": money(line.unit_price),
        "net": money(line.net),
        "taxes": [_tax(t) for t in line.taxes],
        "tax": money(line.tax),
        "total": money(line.total),
    }


def invoice_summary(invoice: Invoice, today: date) -> dict[str, Any]:
    """An invoice in a list: its figures and status on ``today``, without lines."""
    return {
        "number": invoice.number,
        "kind": invoice.kind.value,
        "status": invoice.status_on(today).value,
        "customer_number": invoice.customer_number,
        "currency": invoice.currency,
        "issued_on": invoice.issued_on.isoformat(),
        "due_on": invoice.due_on.isoformat(),
        "net": money(invoice.net),
        "tax": money(invoice.tax),
        "total": money(invoice.total),
        "related_number": invoice.related_number,
        "paid_at": stamp(invoice.paid_at),
    }


def invoice(invoice: Invoice, today: date) -> dict[str, Any]:
    """An invoice or credit note whole: parties, lines, taxes per rate, totals."""
    return {
        **invoice_summary(invoice, today),
        "seller": _party(invoice.seller),
        "customer": _party(invoice.customer),
        "installation_number": invoice.installation_number,
        "language": invoice.language,
        "lines": [_line(line, invoice.language) for line in invoice.lines],
        "taxes": [_tax(t) for t in invoice.tax_summary()],
        "reason": invoice.reason or None,
        "payment_id": invoice.payment_id,
    }


def invoice_payment(payment: InvoicePayment) -> dict[str, Any]:
    return {
        "invoice_number": payment.invoice_number,
        "payment_id": payment.payment_id,
        "amount": money(payment.amount),
        "via": payment.via,
        "status": payment.status,
        "created_at": stamp(payment.created_at),
        "updated_at": stamp(payment.updated_at),
    }


def statement(found: AccountStatement) -> dict[str, Any]:
    return {
        "customer_number": found.customer_number,
        "day": found.day.isoformat(),
        "balance_due": money(found.balance_due),
        "overdue": money(found.overdue),
        "invoices": [invoice_summary(i, found.day) for i in found.invoices],
    }


def mandate(found: DebitMandate) -> dict[str, Any]:
    """A direct-debit mandate as the CLI shows it: the account masked, as everywhere."""
    return {
        "reference": found.reference,
        "scheme": found.scheme.value,
        "instrument_id": found.instrument_id,
        "account_holder": found.account_holder,
        "account": found.account,
        "bank": found.bank,
        "account_type": found.account_type or None,
        "creditor_name": found.creditor_name,
        "creditor_id": found.creditor_id or None,
        "signed_at": found.signed_at.isoformat(),
        "signed_by": found.signed_by,
        "revoked_at": None if found.revoked_at is None else found.revoked_at.isoformat(),
        "revoked_by": found.revoked_by or None,
        "active": found.active,
    }


def profile(found: BillingProfile) -> dict[str, Any]:
    return {
        "customer_number": found.customer_number,
        "region": found.region,
        "language": found.language,
        "paperless": found.paperless,
        "auto_debit_instrument": found.auto_debit_instrument,
        "billing_address": list(found.billing_address),
    }


CSV_COLUMNS = (
    "number",
    "kind",
    "status",
    "issued_on",
    "due_on",
    "currency",
    "net",
    "tax",
    "total",
    "related_number",
    "paid_at",
)


def statement_csv(found: AccountStatement, payments: Sequence[InvoicePayment]) -> str:
    """The account statement as CSV: one row per invoice of the period, then the
    payments, then the balance due and the overdue amount."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(("record", *CSV_COLUMNS))
    for row in found.invoices:
        writer.writerow(
            (
                "invoice",
                row.number,
                row.kind.value,
                row.status_on(found.day).value,
                row.issued_on.isoformat(),
                row.due_on.isoformat(),
                row.currency,
                row.net.amount,
                row.tax.amount,
                row.total.amount,
                row.related_number or "",
                stamp(row.paid_at) or "",
            )
        )
    for payment in payments:
        writer.writerow(
            (
                "payment",
                payment.invoice_number,
                payment.via,
                payment.status,
                payment.created_at.date().isoformat(),
                "",
                payment.amount.currency,
                "",
                "",
                payment.amount.amount,
                payment.payment_id or "",
                "",
            )
        )
    for label, value in (("balance_due", found.balance_due), ("overdue", found.overdue)):
        writer.writerow(
            (
                label,
                "",
                "",
                "",
                found.day.isoformat(),
                "",
                value.currency,
                "",
                "",
                value.amount,
                "",
                "",
            )
        )
    return out.getvalue()
