"""The billing runs the worker starts: contracts bill themselves once per billing
period, and each credit line's monthly statement becomes an invoice.

The contract run issues, for every contract running on the day, the invoice of the
period the day falls in, keyed ``contract:<number>:<period start>``: a second run (or
a second worker) finds the key taken and issues nothing. Invoices are numbered and
stored a chunk at a time, each chunk in one transaction with its numbers.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import date

from sqlalchemy.exc import IntegrityError

from postroom.core.accounts.model import CustomerAccount
from postroom.core.billing import messages, model
from postroom.core.billing.model import (
    BillingProfile,
    Invoice,
    InvoiceKind,
    LineItem,
    OneLineInvoice,
    Series,
    TaxRate,
)
from postroom.core.billing.ports import (
    Contracts,
    CreditStatements,
    CustomerAccounts,
    CustomerMessages,
    InstallationNumbers,
    Session,
    Transactions,
)
from postroom.core.billing.settings import BillingSettings
from postroom.core.billing.store import BillingRepository
from postroom.core.clock import Clock
from postroom.core.contracts.model import BillableContract
from postroom.core.errors import PostroomError
from postroom.core.money import Money

log = logging.getLogger(__name__)

#: Contracts billed per transaction (its block of numbers, its commit): a second or
#: less of SQLite's write lock at a time.
CHUNK = 5000


def contract_reference(contract: BillableContract, period_start: date) -> str:
    return f"contract:{contract.number}:{period_start.isoformat()}"


def _period(contract: BillableContract, day: date) -> tuple[date, date]:
    return model.contract_period(contract.start, model.PERIOD_MONTHS[contract.billing_period], day)


class BillingRuns:
    def __init__(
        self,
        db: Transactions,
        clock: Clock,
        repository: Callable[[Session], BillingRepository],
        settings: BillingSettings,
        *,
        accounts: CustomerAccounts,
        contracts: Contracts,
        meters: InstallationNumbers,
        statements: CreditStatements,
        outbox: CustomerMessages,
        issue: Callable[..., Invoice],
        profile: Callable[[str], BillingProfile],
    ) -> None:
        self._db = db
        self._clock = clock
        self._repository = repository
        self._settings = settings
        self._accounts = accounts
        self._contracts = contracts
        self._meters = meters
        self._statements = statements
        self._outbox = outbox
        self._issue = issue
        self._profile = profile

    def run_contracts(self, day: date) -> int:
        """Issue the invoice of the current billing period of every contract running on
        ``day`` that has none yet; returns how many were issued (0 on a second run)."""
        # A run holds a few hundred thousand small objects (rows, keys) at once, and the
        # cyclic collector would walk all of them again and again as they pile up (a
        # fifth of the run's time); they hold no cycles, reference counting frees them.
        with _collector_paused():
            return self._run_contracts(day)

    def _run_contracts(self, day: date) -> int:
        contracts = self._contracts.billable_on(day)
        if not contracts:
            return 0
        installation = self._meters.installation_numbers()
        accounts = self._accounts.many({c.customer_number for c in contracts})
        # What is billed already, read once: asked chunk by chunk, a store without
        # statistics on a fresh table scans it for each chunk (quadratic in the run).
        since = min(_period(c, day)[0] for c in contracts)
        billed = self._db.run(
            lambda uow: self._repository(uow).contract_references_since(since), readonly=True
        )
        pricing = _Pricing(self._settings, day)
        made = 0
        for start in range(0, len(contracts), CHUNK):
            chunk = contracts[start : start + CHUNK]
            bill = functools.partial(
                self._bill_chunk,
                chunk=chunk,
                day=day,
                accounts=accounts,
                installation=installation,
                billed=billed,
                pricing=pricing,
            )
            try:
                issued, told = self._db.run(bill)
            except IntegrityError:  # a concurrent run billed some of them: ask the store
                issued, told = self._db.run(functools.partial(bill, billed=None))
            self._outbox.deliver(told)
            made += issued
        return made

    def _bill_chunk(
        self,
        uow: Session,
        chunk: Sequence[BillableContract],
        day: date,
        accounts: dict[str, CustomerAccount],
        installation: dict[str, str],
        billed: set[tuple[str, str]] | None,
        pricing: _Pricing,
    ) -> tuple[int, list[str]]:
        """Bill ``chunk`` in one transaction; ``billed`` is what was billed when the run
        began (None: ask the store, after a concurrent run won a race)."""
        repository = self._repository(uow)
        wanted: dict[tuple[str, str], tuple[BillableContract, tuple[date, date]]] = {}
        for c in chunk:
            period = _period(c, day)
            wanted[(c.customer_number, contract_reference(c, period[0]))] = (c, period)
        taken = repository.references_taken(wanted) if billed is None else billed
        todo = [(key[1], c, period) for key, (c, period) in wanted.items() if key not in taken]
        if not todo:
            return 0, []
        profiles = repository.profiles({c.customer_number for _, c, _ in todo})
        # the invoices' contents first (how many to number), then their numbers
        drafts = []
        for reference, contract, period in todo:
            account = accounts.get(contract.customer_number)
            if account is None:
                continue
            profile = profiles.get(account.number) or model.default_profile(
                account.number, account.country
            )
            description = model.contract_line(
                contract.kind,
                contract.serial,
                contract.product_code,
                contract.number,
                period,
                profile.language,
            )
            try:
                priced = pricing.price(account, profile, contract.amount_mills, contract.currency)
                model.check_description(description)
            except PostroomError as error:  # the account's billing profile needs a fix
                log.warning("contract %s not billed: %s", contract.number, error.message)
                continue
            drafts.append((reference, contract, account, profile, description, priced, period))
        if not drafts:
            return 0, []
        first = repository.next_numbers(Series.INVOICE, day.year, len(drafts))
        prefix = f"{Series.INVOICE.value}-{day.year:04d}-"
        due_on = pricing.due_on
        invoices = [
            OneLineInvoice(
                # the same form as model.format_number, without a call per invoice
                f"{prefix}{first + offset:06d}",
                contract.kind,
                account.number,
                account.name,
                profile.billing_address or (account.country,),
                account.currency,
                day,
                due_on,
                reference,
                installation.get(contract.serial),
                profile.language,
                description,
                contract.amount_mills,
                *priced,
                model.contract_text(
                    contract.kind, contract.serial, contract.product_code, contract.number, period
                ),
            )
            for offset, (
                reference,
                contract,
                account,
                profile,
                description,
                priced,
                period,
            ) in enumerate(drafts)
        ]
        now = self._clock.now()
        repository.add_one_line(invoices, self._settings.seller, now)
        told = [
            self._tell_issued(uow, row.invoice(self._settings.seller, now), profile.language)
            for row, (_, _, _, profile, _, _, _) in zip(invoices, drafts, strict=True)
            if profile.paperless
        ]
        uow.commit()
        return len(invoices), told

    def _tell_issued(self, uow: Session, invoice: Invoice, language: str) -> str:
        link = self._settings.invoice_link(invoice.number)
        return messages.write(
            self._outbox,
            uow,
            invoice.customer_number,
            "billing.invoice-issued",
            messages.invoice_issued(invoice, link),
            {
                "invoice": invoice.number,
                "total": str(invoice.total),
                "due_on": invoice.due_on.isoformat(),
            },
            language,
            [messages.pdf_attachment(invoice, link)],
        )

    def run_credit_statements(self, month: str | None = None) -> int:
        """Each credit line's statement of ``month`` (default the last closed one) with
        a balance to pay becomes an invoice due on the statement's due date; returns
        how many were issued now (0 on a second run)."""
        today = self._clock.now().date()
        made = 0
        for statement in self._statements.statements_of_month(month):
            if statement.closing <= 0:
                continue
            reference = f"credit-statement:{statement.month}"
            known = self._db.run(
                functools.partial(
                    self._known, customer_number=statement.customer_number, reference=reference
                ),
                readonly=True,
            )
            if known is not None:
                continue
            profile = self._profile(statement.customer_number)
            try:
                self._issue(
                    statement.customer_number,
                    [
                        LineItem(
                            model.statement_line(statement.month, profile.language),
                            1,
                            Money(statement.closing, statement.currency),
                            model.statement_text(statement.month),
                        )
                    ],
                    kind=InvoiceKind.CREDIT_STATEMENT.value,
                    reference=reference,
                    due_days=max(0, (statement.due_date - today).days),
                )
            except PostroomError as error:
                log.warning(
                    "statement %s of %s not invoiced: %s",
                    statement.month,
                    statement.customer_number,
                    error.message,
                )
                continue
            made += 1
        return made

    def _known(self, uow: Session, customer_number: str, reference: str) -> Invoice | None:
        return self._repository(uow).by_reference(customer_number, reference)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Pricing:
    """A run's prices, each worked out once: contracts share a few amounts, and
    accounts a few countries and regions. A line's checks and rounding are
    ``model.check_items`` and ``model.price_lines``'s, for one unit."""

    def __init__(self, settings: BillingSettings, day: date) -> None:
        self._taxes = settings.taxes
        self.due_on = model.due_date(day, None)
        self._rates: dict[tuple[str, str | None], tuple[TaxRate, ...] | PostroomError] = {}
        self._priced: dict[tuple[int, str, str, tuple[TaxRate, ...]], model.PricedUnit] = {}

    def price(
        self, account: CustomerAccount, profile: BillingProfile, mills: int, currency: str
    ) -> model.PricedUnit:
        where = (account.country, profile.region)
        rates = self._rates.get(where)
        if rates is None:
            try:
                rates = self._taxes.rates_for(*where)
            except PostroomError as error:
                rates = error
            self._rates[where] = rates
        if isinstance(rates, PostroomError):
            raise rates
        key = (mills, currency, account.currency, rates)
        priced = self._priced.get(key)
        if priced is None:
            (item,) = model.check_items(
                [LineItem("-", 1, Money(mills, currency))], account.currency
            )
            priced = self._priced[key] = model.price_one(item.unit_price.mills, rates)
        return priced
