"""Use cases of the billing area (``pr.billing``); each runs in one unit of work.

Issuing numbers an invoice from its series' gap-free sequence in the transaction that
stores it, so a failed issue leaves no gap and two issuers never share a number. The
same (customer, reference) again answers the first invoice. An issued invoice is never
edited: ``credit`` issues a credit note and marks the invoice credited; ``cancel``
withdraws an open invoice nobody paid, with its reason.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

import attrs

from postroom.core.accounts.model import CustomerAccount
from postroom.core.billing import messages, model
from postroom.core.billing.document import invoice_pdf
from postroom.core.billing.mandates import Mandates
from postroom.core.billing.model import (
    AccountStatement,
    AmountsOwed,
    BillingProfile,
    Invoice,
    InvoiceKind,
    InvoicePayment,
    InvoiceStatus,
    LineItem,
    Party,
    Series,
)
from postroom.core.billing.paying import Paying
from postroom.core.billing.ports import (
    BankAccounts,
    Contracts,
    CreditStatements,
    CustomerAccounts,
    CustomerMessages,
    InstallationNumbers,
    Payments,
    Session,
    Transactions,
)
from postroom.core.billing.runs import BillingRuns
from postroom.core.billing.settings import BillingSettings
from postroom.core.billing.store import BillingRepository, BillingStore
from postroom.core.clock import Clock, today
from postroom.core.errors import Conflict, NotFound, ValidationError
from postroom.core.money import Money
from postroom.core.text import check_no_control

RepositoryFactory = Callable[[Session], BillingRepository]
#: The payment sources' kind automatic debit takes (SEPA, ACH).
BANK_DEBIT = "bank_debit"
#: How an invoice issued paid was paid: at the sale's checkout (a card).
CHECKOUT = "checkout"
MAX_PAGE = 1000


def _store(session: Session) -> BillingRepository:
    return BillingStore(session.connection)


class BillingService:
    """``pr.billing``: invoices and credit notes of customer accounts."""

    def __init__(
        self,
        db: Transactions,
        clock: Clock,
        settings: BillingSettings,
        *,
        accounts: CustomerAccounts,
        messages: CustomerMessages,
        payments: Payments,
        contracts: Contracts,
        meters: InstallationNumbers,
        statements: CreditStatements,
        bank_accounts: BankAccounts | None = None,
        repository: RepositoryFactory = _store,
    ) -> None:
        """``bank_accounts``: the vault for the mandates' bank accounts (None: direct
        debit cannot be set up, only chosen among existing instruments)."""
        self._db = db
        self._clock = clock
        self.settings = settings
        self._accounts = accounts
        self._messages = messages
        self._payments = payments
        self._repository = repository
        paying = Paying(
            db,
            clock,
            repository,
            settings,
            accounts=accounts,
            payments=payments,
            outbox=messages,
        )
        runs = BillingRuns(
            db,
            clock,
            repository,
            settings,
            accounts=accounts,
            contracts=contracts,
            meters=meters,
            statements=statements,
            outbox=messages,
            issue=self.issue_invoice,
            profile=self.profile,
        )
        mandates = Mandates(
            db,
            clock,
            repository,
            settings,
            accounts=accounts,
            bank_accounts=bank_accounts,
            outbox=messages,
        )
        # direct-debit mandates (mandates.py)
        self.debit_offer = mandates.offer
        self.set_up_debit = mandates.set_up_debit
        self.mandates = mandates.mandates
        self.mandate = mandates.mandate
        self.mandate_pdf = mandates.mandate_pdf
        self.revoke_mandate = mandates.revoke
        # paying (paying.py) and the worker's runs (runs.py), under their public names
        self.pay = paying.pay
        self.payment_changed = paying.payment_changed
        self._run_auto_debit = paying.run_auto_debit
        self._run_contracts = runs.run_contracts
        self.run_credit_statements = runs.run_credit_statements

    def run_contracts(self, day: date | None = None) -> int:
        """The worker's job: bill every running contract's current period once."""
        return self._run_contracts(day or self.today())

    def run_auto_debit(self, day: date | None = None) -> int:
        """The worker's job: debit the invoices due by ``day`` of customers with
        automatic debit, once each."""
        return self._run_auto_debit(day or self.today())

    def today(self) -> date:
        return today(self._clock)

    # ------------------------------------------------------------------ issuing

    def issue_invoice(
        self,
        customer_number: str,
        lines: Sequence[LineItem],
        *,
        kind: str,
        reference: str,
        due_days: int | None = None,
        installation_number: str | None = None,
    ) -> Invoice:
        """Number and store an invoice of ``lines`` for the customer, with the taxes of
        its country and region; the same ``reference`` again answers the first one."""
        account = self._accounts.get(customer_number)

        def work(uow: Session) -> tuple[Invoice, builtins.list[str]]:
            invoice, told = self._issue(
                uow, account, lines, kind, reference, due_days, installation_number
            )
            uow.commit()
            return invoice, told

        invoice, told = self._db.run(work)
        self._messages.deliver(told)
        return invoice

    def issue_invoice_in(
        self,
        session: Session,
        customer_number: str,
        lines: Sequence[LineItem],
        *,
        kind: str,
        reference: str,
        due_days: int | None = None,
        installation_number: str | None = None,
    ) -> Invoice:
        """``issue_invoice`` in the caller's unit of work; the caller commits."""
        account = self._accounts.get(customer_number)
        invoice, _ = self._issue(
            session, account, lines, kind, reference, due_days, installation_number
        )
        return invoice

    def issue_paid_invoice_in(
        self,
        session: Session,
        customer_number: str,
        lines: Sequence[LineItem],
        *,
        kind: str,
        reference: str,
        payment_id: str,
        paid: Money,
    ) -> Invoice:
        """The invoice of a sale already paid (a shop order charged to a card), issued
        ``paid`` by the funding payment ``payment_id`` in the caller's unit of work: its
        payment shows in the account's history. ``paid`` must be what the invoice totals
        (``receipt_total_mismatch`` otherwise, before anything is written: the tax table
        or the customer's region changed since the sale was priced). The same
        ``reference`` again answers the first invoice."""
        account = self._accounts.get(customer_number)
        if not isinstance(payment_id, str) or not 1 <= len(payment_id) <= 40:
            raise ValidationError("a payment id is 1 to 40 characters", code="invalid_payment_id")
        clean_payment = check_no_control(payment_id, "payment_id")
        invoice, _ = self._issue(
            session,
            account,
            lines,
            kind,
            reference,
            0,
            None,
            paid=(clean_payment, paid),
        )
        return invoice

    def _issue(
        self,
        uow: Session,
        account: CustomerAccount,
        lines: Sequence[LineItem],
        kind: str,
        reference: str,
        due_days: int | None,
        installation_number: str | None,
        *,
        paid: tuple[str, Money] | None = None,
    ) -> tuple[Invoice, builtins.list[str]]:
        """``paid``: the funding payment that paid the sale already, and its amount."""
        clean_kind = model.parse_kind(kind)
        clean_reference = model.check_reference(reference)
        items = model.check_items(lines, account.currency)
        issued_on = self.today()
        due_on = model.due_date(issued_on, due_days)
        repository = self._repository(uow)
        existing = repository.by_reference(account.number, clean_reference)
        if existing is not None:
            return existing, []
        profile = repository.profile(account.number) or model.default_profile(
            account.number, account.country
        )
        rates = (
            ()
            if clean_kind is InvoiceKind.CREDIT_STATEMENT  # postage is not taxed
            else self.settings.taxes.rates_for(account.country, profile.region)
        )
        priced = model.price_lines(items, rates)
        now = self._clock.now()
        settled: dict[str, Any] = {}
        if paid is not None:
            payment_id, amount = paid
            model.check_receipt(priced, account.currency, amount)
            settled = {"status": InvoiceStatus.PAID, "payment_id": payment_id, "paid_at": now}
        first = repository.next_numbers(Series.INVOICE, issued_on.year, 1)
        invoice = repository.add(
            Invoice(
                id=0,
                number=model.format_number(Series.INVOICE, issued_on.year, first),
                kind=clean_kind,
                customer_number=account.number,
                customer=_customer_party(account, profile),
                seller=self.settings.seller,
                currency=account.currency,
                issued_on=issued_on,
                due_on=due_on,
                lines=priced,
                reference=clean_reference,
                installation_number=installation_number,
                language=profile.language,
                created_at=now,
                **settled,
            )
        )
        if paid is not None:
            repository.add_payment(
                InvoicePayment(
                    invoice_number=invoice.number,
                    customer_number=account.number,
                    key=f"checkout:{invoice.number}",
                    payment_id=paid[0],
                    amount=invoice.total,
                    via=CHECKOUT,
                    status="settled",
                    created_at=now,
                    updated_at=now,
                ),
                invoice.id,
            )
        return invoice, self._tell_issued(uow, invoice, profile)

    def _tell_issued(
        self, uow: Session, invoice: Invoice, profile: BillingProfile
    ) -> builtins.list[str]:
        """Paperless billing: an email with the PDF for each new invoice (none
        otherwise: the paper invoice goes by post)."""
        if not profile.paperless:
            return []
        link = self.settings.invoice_link(invoice.number)
        return [
            messages.write(
                self._messages,
                uow,
                invoice.customer_number,
                "billing.invoice-issued",
                messages.invoice_issued(invoice, link),
                {
                    "invoice": invoice.number,
                    "total": str(invoice.total),
                    "due_on": invoice.due_on.isoformat(),
                },
                profile.language,
                [messages.pdf_attachment(invoice, link)],
            )
        ]

    # -------------------------------------------------------------- corrections

    def credit(self, customer_number: str, number: str, reason: str) -> Invoice:
        """Correct an issued invoice: a credit note (``CRN-YYYY-NNNNNN``) of all its
        lines negated; the invoice becomes ``credited``. Returns the credit note."""
        account = self._accounts.get(customer_number)
        clean_reason = model.parse_reason(reason)
        now = self._clock.now()

        def work(uow: Session) -> tuple[Invoice, builtins.list[str]]:
            repository = self._repository(uow)
            invoice = model.owned(
                repository.get(model.known_number(number)), account.number, number
            )
            if invoice.is_credit_note:
                raise Conflict("a credit note is not credited", code="invoice_not_creditable")
            if invoice.status in (InvoiceStatus.CREDITED, InvoiceStatus.CANCELLED):
                raise Conflict(
                    f"invoice {invoice.number} is {invoice.status.value}",
                    code="invoice_not_creditable",
                )
            issued_on = now.date()
            first = repository.next_numbers(Series.CREDIT_NOTE, issued_on.year, 1)
            note = repository.add(
                attrs.evolve(
                    invoice,
                    id=0,
                    number=model.format_number(Series.CREDIT_NOTE, issued_on.year, first),
                    kind=InvoiceKind.CREDIT_NOTE,
                    issued_on=issued_on,
                    due_on=issued_on,
                    lines=model.negated(invoice.lines),
                    reference=f"credit:{invoice.number}",
                    created_at=now,
                    status=InvoiceStatus.CREDITED,
                    related_number=invoice.number,
                    reason=clean_reason,
                    payment_id=None,
                    paid_at=None,
                )
            )
            repository.set_status(
                invoice.id,
                InvoiceStatus.CREDITED,
                related_number=note.number,
                reason=clean_reason,
            )
            profile = repository.profile(account.number) or model.default_profile(
                account.number, account.country
            )
            told = self._tell_issued(uow, note, profile)
            uow.commit()
            return note, told

        note, told = self._db.run(work)
        self._messages.deliver(told)
        return note

    def cancel(self, customer_number: str, number: str, reason: str) -> Invoice:
        """Withdraw an open invoice nobody paid (issued in error): ``cancelled``, with
        its reason. A paid invoice is corrected by ``credit``."""
        account = self._accounts.get(customer_number)
        clean_reason = model.parse_reason(reason)

        def work(uow: Session) -> Invoice:
            repository = self._repository(uow)
            invoice = model.owned(
                repository.get(model.known_number(number)), account.number, number
            )
            if not invoice.payable or invoice.payment_id is not None:
                raise Conflict(
                    f"invoice {invoice.number} is {invoice.status.value}: credit it instead",
                    code="invoice_not_cancellable",
                )
            repository.set_status(invoice.id, InvoiceStatus.CANCELLED, reason=clean_reason)
            uow.commit()
            return attrs.evolve(invoice, status=InvoiceStatus.CANCELLED, reason=clean_reason)

        return self._db.run(work)

    # -------------------------------------------------------------------- reading

    def get(self, customer_number: str, number: str) -> Invoice:
        """The customer's invoice or credit note; another account's is
        ``invoice_not_found``."""
        account = self._accounts.get(customer_number)
        clean = model.known_number(number)
        found = self._db.run(lambda uow: self._repository(uow).get(clean), readonly=True)
        return model.owned(found, account.number, number)

    def pdf(self, customer_number: str, number: str) -> bytes:
        """The customer's invoice as a PDF document, in the invoice's language."""
        invoice = self.get(customer_number, number)
        return invoice_pdf(
            invoice, self.settings.invoice_link(invoice.number), self.paid_with(invoice)
        )

    def paid_with(self, invoice: Invoice) -> str | None:
        """What paid a paid invoice, as the customer knows it: the label of the vault's
        instrument (``Visa …4242 exp 12/2035``); None while it is not paid."""
        if invoice.status is not InvoiceStatus.PAID or invoice.payment_id is None:
            return None
        payment = self._payments.payment(invoice.customer_number, invoice.payment_id)
        labels = {i.id: i.label for i in self._payments.instruments(invoice.customer_number)}
        return labels.get(payment.instrument_id) or payment.source

    def list(
        self,
        customer_number: str,
        *,
        status: str | None = None,
        since: date | None = None,
        until: date | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> builtins.list[Invoice]:
        """The customer's invoices and credit notes, newest first, of one status
        (``overdue``: open past the due date) and issued between ``since`` and ``until``."""
        account = self._accounts.get(customer_number)
        _page(limit, offset)
        _period(since, until)
        wanted = None if status is None else model.parse_status(status)
        stored = (
            None
            if wanted is None
            else [InvoiceStatus.OPEN if wanted is InvoiceStatus.OVERDUE else wanted]
        )
        day = self.today()

        def work(uow: Session) -> builtins.list[Invoice]:
            repository = self._repository(uow)
            if wanted is not InvoiceStatus.OVERDUE and wanted is not InvoiceStatus.OPEN:
                return repository.listed(
                    account.number,
                    statuses=stored,
                    since=since,
                    until=until,
                    limit=limit,
                    offset=offset,
                )
            # open and overdue split the stored "open" by the day: filtered here
            found = [
                i
                for i in repository.listed(
                    account.number, statuses=stored, since=since, until=until, limit=10**9
                )
                if i.status_on(day) is wanted
            ]
            return found[offset : offset + limit]

        return self._db.run(work, readonly=True)

    def account_statement(
        self,
        customer_number: str,
        *,
        status: str | None = None,
        since: date | None = None,
        until: date | None = None,
        limit: int = MAX_PAGE,
    ) -> AccountStatement:
        """Balance due, overdue amount and the invoices of the period (and status)."""
        account = self._accounts.get(customer_number)
        listed = self.list(account.number, status=status, since=since, until=until, limit=limit)
        owing = self._db.run(
            lambda uow: self._repository(uow).unpaid(account.number), readonly=True
        )
        return model.account_statement(
            account.number, account.currency, self.today(), listed, owing
        )

    def owed_in(
        self, session: Session, customer: CustomerAccount, *, latest: int = 5
    ) -> AmountsOwed:
        """Balance due, overdue amount and the unpaid invoices (at most ``latest``,
        oldest due first, without their lines) inside the caller's unit of work: the
        portal's dashboard, in one statement."""
        owing = self._repository(session).unpaid_summaries(customer.number)
        return model.amounts_owed(customer.currency, self.today(), owing, latest=latest)

    def payments(self, customer_number: str, *, limit: int = 100) -> builtins.list[InvoicePayment]:
        """The customer's invoice payments (each attempt), newest first."""
        account = self._accounts.get(customer_number)
        _page(limit, 0)
        return self._db.run(
            lambda uow: self._repository(uow).payments(account.number, limit=limit),
            readonly=True,
        )

    # ------------------------------------------------------------------ profile

    def profile(self, customer_number: str) -> BillingProfile:
        account = self._accounts.get(customer_number)
        found = self._db.run(
            lambda uow: self._repository(uow).profile(account.number), readonly=True
        )
        return found or model.default_profile(account.number, account.country)

    def set_profile(
        self,
        customer_number: str,
        *,
        region: str | None = None,
        language: str | None = None,
        paperless: bool | None = None,
        billing_address: Sequence[str] | None = None,
    ) -> BillingProfile:
        """Change how the account is billed; what is not given stays as it was."""
        account = self._accounts.get(customer_number)
        changes: dict[str, Any] = {}
        if region is not None:
            clean_region = model.parse_region(region)
            try:
                self.settings.taxes.rates_for(account.country, clean_region)
            except ValidationError as error:  # well formed, not a region of the country
                raise Conflict(error.message, code=error.code) from None
            changes["region"] = clean_region
        if language is not None:
            changes["language"] = model.parse_language(language)
        if paperless is not None:
            if not isinstance(paperless, bool):
                raise ValidationError("paperless is on or off", code="invalid_paperless")
            changes["paperless"] = paperless
        if billing_address is not None:
            changes["billing_address"] = _address(billing_address)
        return self._change_profile(account, changes)

    def set_auto_debit(self, customer_number: str, instrument_id: str | None) -> BillingProfile:
        """Debit the account's invoices on their due date from ``instrument_id`` (a
        bank debit: a SEPA mandate or an ACH authorisation of the vault), or stop
        (None)."""
        account = self._accounts.get(customer_number)
        if instrument_id is not None:
            found = next(
                (
                    i
                    for i in self._payments.instruments(account.number)
                    if i.id == instrument_id and i.status == "active"
                ),
                None,
            )
            if found is None:
                raise NotFound(
                    f"no payment instrument {instrument_id!r}", code="instrument_not_found"
                )
            if self._payments.source(found.source).kind != BANK_DEBIT:
                raise ValidationError(
                    "automatic debit takes a bank debit instrument (SEPA mandate or ACH "
                    "authorisation)",
                    code="invalid_instrument",
                )
        return self._change_profile(account, {"auto_debit_instrument": instrument_id})

    def _change_profile(
        self, account: CustomerAccount, changes: Mapping[str, Any]
    ) -> BillingProfile:
        now = self._clock.now()

        def work(uow: Session) -> BillingProfile:
            repository = self._repository(uow)
            current = repository.profile(account.number) or model.default_profile(
                account.number, account.country
            )
            changed = attrs.evolve(current, **changes)
            repository.save_profile(changed, now)
            uow.commit()
            return changed

        return self._db.run(work)

    # ------------------------------------------------------------------ helpers


def _customer_party(account: CustomerAccount, profile: BillingProfile) -> Party:
    address = profile.billing_address or (account.country,)
    return Party(account.name, tuple(address))


def _address(lines: Sequence[str]) -> tuple[str, ...]:
    if isinstance(lines, str) or not 0 <= len(lines) <= 6:
        raise ValidationError("a billing address is up to 6 lines", code="invalid_address")
    clean = []
    for line in lines:
        text = " ".join(line.split()) if isinstance(line, str) else ""
        check_no_control(text, "billing_address")
        if len(text) > 80:
            raise ValidationError("an address line is up to 80 characters", code="invalid_address")
        if text:
            clean.append(text)
    return tuple(clean)


def _page(limit: int, offset: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit is 1 to {MAX_PAGE}", code="invalid_limit")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValidationError("offset is 0 or more", code="invalid_offset")


def _period(since: date | None, until: date | None) -> None:
    for value in (since, until):
        if value is not None and not isinstance(value, date):
            raise ValidationError("a period is given by dates", code="invalid_period")
