"""Tables and repository of the billing area (SQLAlchemy Core).

``BillingRepository`` is the Protocol the use cases depend on; ``BillingStore`` is its
implementation on a unit of work's connection (tests use an in-memory fake in
tests/unit/billing_fakes.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Row

from postroom.core.billing.mandate import DebitMandate, DebitScheme
from postroom.core.billing.model import (
    BillingProfile,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoicePayment,
    InvoiceStatus,
    LineText,
    OneLineInvoice,
    Party,
    Series,
    TaxAmount,
    UnpaidInvoice,
)
from postroom.core.db import UtcDateTime, copy_rows, metadata
from postroom.core.money import Money

invoices = sa.Table(
    "invoices",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("number", sa.String(16), nullable=False, unique=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column(
        "customer_number",
        sa.String(10),
        sa.ForeignKey("customer_accounts.number"),
        nullable=False,
    ),
    sa.Column("customer_name", sa.String(200), nullable=False),
    sa.Column("customer_address", sa.String(500), nullable=False),
    sa.Column("customer_tax_id", sa.String(40), nullable=False),
    sa.Column("seller_name", sa.String(200), nullable=False),
    sa.Column("seller_address", sa.String(500), nullable=False),
    sa.Column("seller_tax_id", sa.String(40), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("issued_on", sa.Date, nullable=False),
    sa.Column("due_on", sa.Date, nullable=False),
    sa.Column("reference", sa.String(120), nullable=False),
    sa.Column("installation_number", sa.String(11), nullable=True),
    sa.Column("language", sa.String(2), nullable=False),
    sa.Column("net_mills", sa.BigInteger, nullable=False),
    sa.Column("tax_mills", sa.BigInteger, nullable=False),
    sa.Column("total_mills", sa.BigInteger, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    # what may change after issue: the status and what explains it
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("related_number", sa.String(16), nullable=True),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("payment_id", sa.String(40), nullable=True),
    sa.Column("paid_at", UtcDateTime(), nullable=True),
    # set once when the automatic debit of the due date was started
    sa.Column("auto_debit_at", UtcDateTime(), nullable=True),
    sa.UniqueConstraint("customer_number", "reference", name="uq_invoices_customer_reference"),
    sa.Index("ix_invoices_customer_issued", "customer_number", "issued_on"),
    sa.Index("ix_invoices_status_due", "status", "due_on"),
    # the billing run's "which of these are billed already": by reference alone
    sa.Index("ix_invoices_reference", "reference"),
)

invoice_lines = sa.Table(
    "invoice_lines",
    metadata,
    sa.Column(
        "invoice_id",
        sa.Integer,
        sa.ForeignKey("invoices.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("description", sa.String(200), nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("unit_price_mills", sa.BigInteger, nullable=False),
    sa.Column("net_mills", sa.BigInteger, nullable=False),
    # [[name, percent, mills], ...]: the line's taxes, in the order printed
    sa.Column("taxes", sa.JSON, nullable=False),
    # {"code": ..., "params": {...}}: what the line says, so that it reads in each
    # reader's language (model.LineText); none for a free-text line
    sa.Column("text", sa.JSON, nullable=True),
)

# The last number given per series and year: incremented in the transaction that
# issues the invoice, so a rolled-back issue leaves no gap.
invoice_sequences = sa.Table(
    "invoice_sequences",
    metadata,
    sa.Column("series", sa.String(3), primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("last", sa.Integer, nullable=False),
)

billing_profiles = sa.Table(
    "billing_profiles",
    metadata,
    sa.Column(
        "customer_number",
        sa.String(10),
        sa.ForeignKey("customer_accounts.number"),
        primary_key=True,
    ),
    sa.Column("region", sa.String(2), nullable=True),
    sa.Column("language", sa.String(2), nullable=False),
    sa.Column("paperless", sa.Boolean, nullable=False),
    sa.Column("auto_debit_instrument", sa.String(40), nullable=True),
    sa.Column("billing_address", sa.String(500), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

# Every attempt to pay an invoice: ``key`` (the funding payment's idempotency key) is
# written before the payment source is asked, the funding payment once it answered.
invoice_payments = sa.Table(
    "invoice_payments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "invoice_id",
        sa.Integer,
        sa.ForeignKey("invoices.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("customer_number", sa.String(10), nullable=False),
    sa.Column("key", sa.String(100), nullable=False),
    sa.Column("payment_id", sa.String(40), nullable=True),
    sa.Column("amount_mills", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("via", sa.String(12), nullable=False),  # portal | auto_debit
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("key", name="uq_invoice_payments_key"),
    sa.UniqueConstraint("payment_id", name="uq_invoice_payments_payment_id"),
    sa.Index("ix_invoice_payments_customer", "customer_number", "created_at"),
)


# Signed direct-debit mandates (SEPA) and authorizations (ACH): the bank account itself
# is the vault's instrument; here only what the mandate says, the account masked.
debit_mandates = sa.Table(
    "debit_mandates",
    metadata,
    sa.Column("reference", sa.String(35), primary_key=True),
    sa.Column(
        "customer_number",
        sa.String(10),
        sa.ForeignKey("customer_accounts.number"),
        nullable=False,
    ),
    sa.Column("scheme", sa.String(8), nullable=False),
    sa.Column("instrument_id", sa.String(40), nullable=False),
    sa.Column("account_holder", sa.String(70), nullable=False),
    sa.Column("account", sa.String(60), nullable=False),
    sa.Column("bank", sa.String(11), nullable=False),
    sa.Column("account_type", sa.String(10), nullable=False),
    sa.Column("creditor_name", sa.String(200), nullable=False),
    sa.Column("creditor_id", sa.String(35), nullable=False),
    sa.Column("language", sa.String(2), nullable=False),
    sa.Column("signed_at", UtcDateTime(), nullable=False),
    sa.Column("signed_by", sa.String(320), nullable=False),
    sa.Column("revoked_at", UtcDateTime(), nullable=True),
    sa.Column("revoked_by", sa.String(320), nullable=False),
    sa.Index("ix_debit_mandates_customer", "customer_number", "signed_at"),
)


# The dashboard's read, on every page view: built once (its cache key too).
_UNPAID_SUMMARIES = (
    sa.select(
        invoices.c.number,
        invoices.c.kind,
        invoices.c.currency,
        invoices.c.total_mills,
        invoices.c.due_on,
    )
    .where(
        (invoices.c.customer_number == sa.bindparam("customer_number"))
        & (invoices.c.status == InvoiceStatus.OPEN.value)
    )
    .order_by(invoices.c.due_on, invoices.c.id)
)


class BillingRepository(Protocol):
    """What the billing use cases read and write."""

    def next_numbers(self, series: Series, year: int, count: int) -> int:
        """Reserve ``count`` numbers of ``series`` in ``year``; returns the first. The
        caller's transaction holds the sequence until it ends (gap-free)."""
        ...

    def add(self, invoice: Invoice) -> Invoice:
        """Store a new invoice (its ``id`` is ignored); returns it with its id."""
        ...

    def add_one_line(
        self, new: Sequence[OneLineInvoice], seller: Party, created_at: datetime
    ) -> None:
        """Store a billing run's invoices (numbered, of one line each), issued by
        ``seller`` at ``created_at``."""
        ...

    def get(self, number: str) -> Invoice | None: ...

    def by_reference(self, customer_number: str, reference: str) -> Invoice | None: ...

    def references_taken(self, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of (customer number, reference) have an invoice already."""
        ...

    def contract_references_since(self, since: date) -> set[tuple[str, str]]:
        """(customer number, reference) of the contract invoices issued on or after
        ``since``: what a billing run finds billed already."""
        ...

    def listed(
        self,
        customer_number: str,
        *,
        statuses: Iterable[InvoiceStatus] | None = None,
        since: date | None = None,
        until: date | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Invoice]:
        """The customer's invoices, newest first (``statuses`` as stored)."""
        ...

    def unpaid(self, customer_number: str) -> list[Invoice]: ...
    def unpaid_summaries(self, customer_number: str) -> list[UnpaidInvoice]:
        """The unpaid invoices, oldest due first, without their lines."""
        ...

    def set_status(self, invoice_id: int, status: InvoiceStatus, **changes: Any) -> None:
        """Change what may change after issue: the status and ``related_number``,
        ``reason``, ``payment_id``, ``paid_at``."""
        ...

    def due_for_debit(self, day: date) -> list[Invoice]:
        """Open invoices due by ``day`` whose automatic debit was not started."""
        ...

    def claim_debit(self, invoice_id: int, at: datetime) -> bool:
        """Mark the automatic debit started; False when it was already."""
        ...

    def profile(self, customer_number: str) -> BillingProfile | None: ...

    def profiles(self, numbers: Iterable[str]) -> dict[str, BillingProfile]: ...

    def save_profile(self, profile: BillingProfile, at: datetime) -> None: ...

    def add_payment(self, payment: InvoicePayment, invoice_id: int) -> None: ...

    def update_payment(
        self, key: str, status: str, at: datetime, payment_id: str | None = None
    ) -> None: ...

    def attempts(self, invoice_id: int) -> list[InvoicePayment]:
        """The invoice's payment attempts, newest first."""
        ...

    def attempt_of_payment(self, payment_id: str) -> InvoicePayment | None: ...

    def payments(self, customer_number: str, *, limit: int = 100) -> list[InvoicePayment]: ...

    def add_mandate(self, mandate: DebitMandate) -> None: ...

    def mandate(self, reference: str) -> DebitMandate | None: ...

    def mandates(self, customer_number: str) -> list[DebitMandate]:
        """The customer's mandates, newest first (revoked ones too)."""
        ...

    def revoke_mandate(self, reference: str, at: datetime, by: str) -> None: ...


_ADDRESS_SEPARATOR = "\n"


class BillingStore:
    """``BillingRepository`` on a unit of work's connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    # ---------------------------------------------------------------- numbers

    def next_numbers(self, series: Series, year: int, count: int) -> int:
        # The year's counter exists first (ON CONFLICT DO NOTHING waits for a concurrent
        # insert of the same key, then does nothing); then one statement reads and
        # advances it. Its row lock (PostgreSQL) or the write transaction (SQLite,
        # BEGIN IMMEDIATE) holds the counter until commit: numbers are gap-free.
        insert = pg_insert if self._c.dialect.name == "postgresql" else sqlite_insert
        self._c.execute(
            insert(invoice_sequences)
            .values(series=series.value, year=year, last=0)
            .on_conflict_do_nothing(index_elements=["series", "year"])
        )
        last = self._c.execute(
            sa.update(invoice_sequences)
            .where(
                (invoice_sequences.c.series == series.value) & (invoice_sequences.c.year == year)
            )
            .values(last=invoice_sequences.c.last + count)
            .returning(invoice_sequences.c.last)
        ).scalar_one()
        return int(last) - count + 1

    # ---------------------------------------------------------------- invoices

    def add(self, invoice: Invoice) -> Invoice:
        new_id = self._c.execute(
            sa.insert(invoices).values(**_invoice_row(invoice)).returning(invoices.c.id)
        ).scalar_one()
        self._c.execute(sa.insert(invoice_lines), _line_rows(new_id, invoice.lines))
        return attrs.evolve(invoice, id=int(new_id))

    def add_one_line(
        self, new: Sequence[OneLineInvoice], seller: Party, created_at: datetime
    ) -> None:
        """Written by the driver itself (COPY on PostgreSQL, the driver's executemany on
        SQLite), with the ids chosen first so that no row is looked up again: SQLAlchemy
        would build every row's parameters anew, which costs more than the run's rules."""
        if not new:
            return
        postgres = self._c.dialect.name == "postgresql"
        if postgres:
            ids = [int(n) for n in self._c.execute(_DRAW_IDS_PG, {"count": len(new)}).scalars()]
        else:
            # the transaction holds SQLite's one write lock (BEGIN IMMEDIATE): nobody
            # else adds an invoice until it ends, and these are the ids SQLite would give
            last = int(self._c.exec_driver_sql(_LAST_ID_SQLITE).scalar_one())
            ids = list(range(last + 1, last + 1 + len(new)))
        # what every row of the run shares, converted once
        seller_address = _ADDRESS_SEPARATOR.join(seller.address)
        at = created_at if postgres else _SQLITE_MOMENT(created_at)
        days: dict[date, object] = {}
        taxes_json: dict[int, str] = {}  # by the identity of the run's shared tuples
        invoice_rows = []
        line_rows = []
        for invoice_id, i in zip(ids, new, strict=True):
            issued_on = days.get(i.issued_on)
            if issued_on is None:
                issued_on = days[i.issued_on] = i.issued_on if postgres else i.issued_on.isoformat()
            due_on = days.get(i.due_on)
            if due_on is None:
                due_on = days[i.due_on] = i.due_on if postgres else i.due_on.isoformat()
            invoice_rows.append(
                (
                    invoice_id,
                    i.number,
                    i.kind,
                    i.customer_number,
                    i.customer_name,
                    _ADDRESS_SEPARATOR.join(i.customer_address),
                    "",
                    seller.name,
                    seller_address,
                    seller.tax_id,
                    i.currency,
                    issued_on,
                    due_on,
                    i.reference,
                    i.installation_number,
                    i.language,
                    i.net_mills,
                    i.tax_mills,
                    i.net_mills + i.tax_mills,
                    at,
                    _OPEN,
                    "",
                )
            )
            taxes = taxes_json.get(id(i.taxes))
            if taxes is None:
                taxes = taxes_json[id(i.taxes)] = json.dumps(
                    [[name, str(percent), mills] for name, percent, mills in i.taxes]
                )
            text = None if i.text is None else json.dumps(_text_value(i.text))
            line_rows.append(
                (invoice_id, 1, i.description, 1, i.unit_price_mills, i.net_mills, taxes, text)
            )
        if postgres:
            copy_rows(self._c, "invoices", _ONE_LINE_COLUMNS, invoice_rows)
            copy_rows(self._c, "invoice_lines", _LINE_COLUMNS, line_rows)
        else:
            self._c.exec_driver_sql(_INSERT_ONE_LINE_SQLITE, invoice_rows)
            self._c.exec_driver_sql(_INSERT_LINES_SQLITE, line_rows)

    def get(self, number: str) -> Invoice | None:
        found = self._load(sa.select(invoices).where(invoices.c.number == number))
        return found[0] if found else None

    def by_reference(self, customer_number: str, reference: str) -> Invoice | None:
        found = self._load(
            sa.select(invoices).where(
                (invoices.c.customer_number == customer_number)
                & (invoices.c.reference == reference)
            )
        )
        return found[0] if found else None

    def references_taken(self, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        wanted = list(pairs)
        taken: set[tuple[str, str]] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            # by reference (its own index: one probe each); pairs of another customer
            # with the same reference are dropped below
            rows = self._c.execute(
                sa.select(invoices.c.customer_number, invoices.c.reference).where(
                    invoices.c.reference.in_({r for _, r in chunk})
                )
            ).all()
            taken |= {(r.customer_number, r.reference) for r in rows} & set(chunk)
        return taken

    def contract_references_since(self, since: date) -> set[tuple[str, str]]:
        rows = self._c.execute(
            sa.select(invoices.c.customer_number, invoices.c.reference).where(
                (invoices.c.issued_on >= since) & invoices.c.reference.startswith("contract:")
            )
        ).all()  # fetched at once: row by row, the driver answers a call per row
        return {(customer, reference) for customer, reference in rows}

    def listed(
        self,
        customer_number: str,
        *,
        statuses: Iterable[InvoiceStatus] | None = None,
        since: date | None = None,
        until: date | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Invoice]:
        query = sa.select(invoices).where(invoices.c.customer_number == customer_number)
        if statuses is not None:
            query = query.where(invoices.c.status.in_([s.value for s in statuses]))
        if since is not None:
            query = query.where(invoices.c.issued_on >= since)
        if until is not None:
            query = query.where(invoices.c.issued_on <= until)
        query = (
            query.order_by(invoices.c.issued_on.desc(), invoices.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return self._load(query)

    def unpaid(self, customer_number: str) -> list[Invoice]:
        return self._load(
            sa.select(invoices)
            .where(
                (invoices.c.customer_number == customer_number)
                & (invoices.c.status == InvoiceStatus.OPEN.value)
            )
            .order_by(invoices.c.due_on, invoices.c.id)
        )

    def unpaid_summaries(self, customer_number: str) -> list[UnpaidInvoice]:
        return [
            UnpaidInvoice(
                row.number,
                Money(int(row.total_mills), row.currency),
                row.due_on,
                row.kind == InvoiceKind.CREDIT_NOTE.value,
            )
            for row in self._c.execute(_UNPAID_SUMMARIES, {"customer_number": customer_number})
        ]

    def set_status(self, invoice_id: int, status: InvoiceStatus, **changes: Any) -> None:
        allowed = {"related_number", "reason", "payment_id", "paid_at"}
        assert set(changes) <= allowed, changes
        self._c.execute(
            sa.update(invoices)
            .where(invoices.c.id == invoice_id)
            .values(status=status.value, **changes)
        )

    def due_for_debit(self, day: date) -> list[Invoice]:
        return self._load(
            sa.select(invoices)
            .where(
                (invoices.c.status == InvoiceStatus.OPEN.value)
                & (invoices.c.due_on <= day)
                & invoices.c.auto_debit_at.is_(None)
                & (invoices.c.kind != InvoiceKind.CREDIT_NOTE.value)
            )
            .order_by(invoices.c.id)
        )

    def claim_debit(self, invoice_id: int, at: datetime) -> bool:
        result = self._c.execute(
            sa.update(invoices)
            .where((invoices.c.id == invoice_id) & invoices.c.auto_debit_at.is_(None))
            .values(auto_debit_at=at)
        )
        return result.rowcount == 1

    def _load(self, query: sa.Select[Any]) -> list[Invoice]:
        rows = self._c.execute(query).all()
        if not rows:
            return []
        lines: dict[int, list[InvoiceLine]] = {row.id: [] for row in rows}
        currency = {row.id: row.currency for row in rows}
        ids = list(lines)
        for start in range(0, len(ids), 500):
            for line in self._c.execute(
                sa.select(invoice_lines)
                .where(invoice_lines.c.invoice_id.in_(ids[start : start + 500]))
                .order_by(invoice_lines.c.invoice_id, invoice_lines.c.position)
            ):
                lines[line.invoice_id].append(_line(line, currency[line.invoice_id]))
        return [_invoice(row, tuple(lines[row.id])) for row in rows]

    # ---------------------------------------------------------------- profiles

    def profile(self, customer_number: str) -> BillingProfile | None:
        row = self._c.execute(
            sa.select(billing_profiles).where(billing_profiles.c.customer_number == customer_number)
        ).first()
        return None if row is None else _profile(row)

    def profiles(self, numbers: Iterable[str]) -> dict[str, BillingProfile]:
        wanted = list(set(numbers))
        found: dict[str, BillingProfile] = {}
        for start in range(0, len(wanted), 500):
            for row in self._c.execute(
                sa.select(billing_profiles).where(
                    billing_profiles.c.customer_number.in_(wanted[start : start + 500])
                )
            ):
                found[row.customer_number] = _profile(row)
        return found

    def save_profile(self, profile: BillingProfile, at: datetime) -> None:
        values = {
            "region": profile.region,
            "language": profile.language,
            "paperless": profile.paperless,
            "auto_debit_instrument": profile.auto_debit_instrument,
            "billing_address": _ADDRESS_SEPARATOR.join(profile.billing_address),
            "updated_at": at,
        }
        changed = self._c.execute(
            sa.update(billing_profiles)
            .where(billing_profiles.c.customer_number == profile.customer_number)
            .values(**values)
        )
        if changed.rowcount == 0:
            self._c.execute(
                sa.insert(billing_profiles).values(
                    customer_number=profile.customer_number, **values
                )
            )

    # ---------------------------------------------------------------- mandates

    def add_mandate(self, mandate: DebitMandate) -> None:
        values = attrs.asdict(mandate, recurse=False)
        values["scheme"] = mandate.scheme.value
        self._c.execute(sa.insert(debit_mandates).values(**values))

    def mandate(self, reference: str) -> DebitMandate | None:
        row = self._c.execute(
            sa.select(debit_mandates).where(debit_mandates.c.reference == reference)
        ).first()
        return None if row is None else _mandate(row)

    def mandates(self, customer_number: str) -> list[DebitMandate]:
        rows = self._c.execute(
            sa.select(debit_mandates)
            .where(debit_mandates.c.customer_number == customer_number)
            .order_by(debit_mandates.c.signed_at.desc(), debit_mandates.c.reference)
        )
        return [_mandate(row) for row in rows]

    def revoke_mandate(self, reference: str, at: datetime, by: str) -> None:
        self._c.execute(
            sa.update(debit_mandates)
            .where(
                (debit_mandates.c.reference == reference) & debit_mandates.c.revoked_at.is_(None)
            )
            .values(revoked_at=at, revoked_by=by)
        )

    # ---------------------------------------------------------------- payments

    def add_payment(self, payment: InvoicePayment, invoice_id: int) -> None:
        self._c.execute(
            sa.insert(invoice_payments).values(
                invoice_id=invoice_id,
                customer_number=payment.customer_number,
                key=payment.key,
                payment_id=payment.payment_id,
                amount_mills=payment.amount.mills,
                currency=payment.amount.currency,
                via=payment.via,
                status=payment.status,
                created_at=payment.created_at,
                updated_at=payment.updated_at,
            )
        )

    def update_payment(
        self, key: str, status: str, at: datetime, payment_id: str | None = None
    ) -> None:
        values: dict[str, Any] = {"status": status, "updated_at": at}
        if payment_id is not None:
            values["payment_id"] = payment_id
        self._c.execute(
            sa.update(invoice_payments).where(invoice_payments.c.key == key).values(**values)
        )

    def attempts(self, invoice_id: int) -> list[InvoicePayment]:
        return self._payments(invoice_payments.c.invoice_id == invoice_id, limit=None)

    def attempt_of_payment(self, payment_id: str) -> InvoicePayment | None:
        found = self._payments(invoice_payments.c.payment_id == payment_id, limit=1)
        return found[0] if found else None

    def payments(self, customer_number: str, *, limit: int = 100) -> list[InvoicePayment]:
        return self._payments(invoice_payments.c.customer_number == customer_number, limit=limit)

    def _payments(
        self, where: sa.ColumnElement[bool], *, limit: int | None
    ) -> list[InvoicePayment]:
        query = (
            sa.select(invoice_payments, invoices.c.number)
            .join(invoices, invoices.c.id == invoice_payments.c.invoice_id)
            .where(where)
            .order_by(invoice_payments.c.created_at.desc(), invoice_payments.c.id.desc())
        )
        if limit is not None:
            query = query.limit(limit)
        return [
            InvoicePayment(
                invoice_number=row.number,
                customer_number=row.customer_number,
                key=row.key,
                payment_id=row.payment_id,
                amount=Money(row.amount_mills, row.currency),
                via=row.via,
                status=row.status,
                created_at=row.created_at,
                updated_at=row.updated_at,
            )
            for row in self._c.execute(query)
        ]


#: The columns of a billing run's new invoice: the others keep their defaults (none).
_ONE_LINE_COLUMNS = (
    "id",
    "number",
    "kind",
    "customer_number",
    "customer_name",
    "customer_address",
    "customer_tax_id",
    "seller_name",
    "seller_address",
    "seller_tax_id",
    "currency",
    "issued_on",
    "due_on",
    "reference",
    "installation_number",
    "language",
    "net_mills",
    "tax_mills",
    "total_mills",
    "created_at",
    "status",
    "reason",
)
_OPEN = InvoiceStatus.OPEN.value
_LINE_COLUMNS = tuple(c.name for c in invoice_lines.columns)
_DRAW_IDS_PG = sa.text(
    "SELECT nextval(pg_get_serial_sequence('invoices', 'id')) FROM generate_series(1, :count)"
)
_LAST_ID_SQLITE = "SELECT COALESCE(MAX(id), 0) FROM invoices"
_SQLITE = sqlite_dialect()
_INSERT_ONE_LINE_SQLITE = str(
    sa.insert(invoices).compile(dialect=_SQLITE, column_keys=list(_ONE_LINE_COLUMNS))
)
_INSERT_LINES_SQLITE = str(
    sa.insert(invoice_lines).compile(dialect=_SQLITE, column_keys=list(_LINE_COLUMNS))
)
#: How SQLAlchemy writes a moment (UtcDateTime) in SQLite, for rows the driver writes.
_SQLITE_MOMENT: Any = invoices.c.created_at.type.dialect_impl(_SQLITE).bind_processor(_SQLITE)


def _invoice_row(invoice: Invoice) -> dict[str, Any]:
    net = sum(line.net.mills for line in invoice.lines)
    tax = sum(t.amount.mills for line in invoice.lines for t in line.taxes)
    return {
        "number": invoice.number,
        "kind": invoice.kind.value,
        "customer_number": invoice.customer_number,
        "customer_name": invoice.customer.name,
        "customer_address": _ADDRESS_SEPARATOR.join(invoice.customer.address),
        "customer_tax_id": invoice.customer.tax_id,
        "seller_name": invoice.seller.name,
        "seller_address": _ADDRESS_SEPARATOR.join(invoice.seller.address),
        "seller_tax_id": invoice.seller.tax_id,
        "currency": invoice.currency,
        "issued_on": invoice.issued_on,
        "due_on": invoice.due_on,
        "reference": invoice.reference,
        "installation_number": invoice.installation_number,
        "language": invoice.language,
        "net_mills": net,
        "tax_mills": tax,
        "total_mills": net + tax,
        "created_at": invoice.created_at,
        "status": invoice.status.value,
        "related_number": invoice.related_number,
        "reason": invoice.reason,
        "payment_id": invoice.payment_id,
        "paid_at": invoice.paid_at,
    }


def _line_rows(invoice_id: int, lines: Sequence[InvoiceLine]) -> list[dict[str, Any]]:
    return [
        {
            "invoice_id": invoice_id,
            "position": line.position,
            "description": line.description,
            "quantity": line.quantity,
            "unit_price_mills": line.unit_price.mills,
            "net_mills": line.net.mills,
            "taxes": [[t.name, str(t.percent), t.amount.mills] for t in line.taxes],
            "text": None if line.text is None else _text_value(line.text),
        }
        for line in lines
    ]


def _text_value(text: LineText) -> dict[str, Any]:
    return {"code": text.code, "params": dict(text.params)}


def _text(value: Any) -> LineText | None:
    if not isinstance(value, dict) or not isinstance(value.get("params"), dict):
        return None
    return LineText(
        str(value.get("code", "")),
        tuple(sorted((str(k), str(v)) for k, v in value["params"].items())),
    )


def _line(row: Row[Any], currency: str) -> InvoiceLine:
    return InvoiceLine(
        position=row.position,
        description=row.description,
        quantity=row.quantity,
        unit_price=Money(row.unit_price_mills, currency),
        net=Money(row.net_mills, currency),
        taxes=tuple(
            TaxAmount(str(name), Decimal(percent), Money(int(mills), currency))
            for name, percent, mills in row.taxes
        ),
        text=_text(row.text),
    )


def _split(text: str) -> tuple[str, ...]:
    return tuple(line for line in text.split(_ADDRESS_SEPARATOR) if line)


def _invoice(row: Row[Any], lines: tuple[InvoiceLine, ...]) -> Invoice:
    return Invoice(
        id=row.id,
        number=row.number,
        kind=InvoiceKind(row.kind),
        customer_number=row.customer_number,
        customer=Party(row.customer_name, _split(row.customer_address), row.customer_tax_id),
        seller=Party(row.seller_name, _split(row.seller_address), row.seller_tax_id),
        currency=row.currency,
        issued_on=row.issued_on,
        due_on=row.due_on,
        lines=lines,
        reference=row.reference,
        installation_number=row.installation_number,
        language=row.language,
        created_at=row.created_at,
        status=InvoiceStatus(row.status),
        related_number=row.related_number,
        reason=row.reason,
        payment_id=row.payment_id,
        paid_at=row.paid_at,
    )


def _profile(row: Row[Any]) -> BillingProfile:
    return BillingProfile(
        customer_number=row.customer_number,
        region=row.region,
        language=row.language,
        paperless=bool(row.paperless),
        auto_debit_instrument=row.auto_debit_instrument,
        billing_address=_split(row.billing_address),
    )


def _mandate(row: Row[Any]) -> DebitMandate:
    return DebitMandate(
        reference=row.reference,
        customer_number=row.customer_number,
        scheme=DebitScheme(row.scheme),
        instrument_id=row.instrument_id,
        account_holder=row.account_holder,
        account=row.account,
        bank=row.bank,
        account_type=row.account_type,
        creditor_name=row.creditor_name,
        creditor_id=row.creditor_id,
        language=row.language,
        signed_at=row.signed_at,
        signed_by=row.signed_by,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
    )
