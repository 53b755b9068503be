"""The billing runs the worker starts: contracts bill themselves once per billing
period, and each credit line's monthly statement becomes an invoice.

The contract run issues, for every contract running on the day, the invoice of the
period the day falls in, keyed ``contract:<number>:<period start>``: a second run (or
a second worker) finds the key taken and issues nothing. Invoices are numbered and
stored a chunk at a time, each chunk in one transaction with its numbers.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from datetime import date

from sqlalchemy.exc import IntegrityError

from postroom.core.accounts.model import CustomerAccount
from postroom.core.billing import messages, model
from postroom.core.billing.model import (
    BillingProfile,
    Invoice,
    InvoiceKind,
    LineItem,
    Party,
    Series,
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
from postroom.core.contracts.model import Contract
from postroom.core.errors import PostroomError
from postroom.core.money import Money

log = logging.getLogger(__name__)

#: Contracts billed per transaction.
CHUNK = 1000


def contract_reference(contract: Contract, period_start: date) -> str:
    return f"contract:{contract.number}:{period_start.isoformat()}"


def _period(contract: Contract, day: date) -> tuple[date, date]:
    months = model.PERIOD_MONTHS[contract.terms.billing_period.value]
    return model.contract_period(contract.start, months, day)


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
        chunk: Sequence[Contract],
        day: date,
        accounts: dict[str, CustomerAccount],
        installation: dict[str, str],
        billed: set[tuple[str, str]] | None,
    ) -> tuple[int, list[str]]:
        """Bill ``chunk`` in one transaction; ``billed`` is what was billed when the run
        began (None: ask the store, after a concurrent run won a race)."""
        repository = self._repository(uow)
        periods = {c.number: _period(c, day) for c in chunk}
        wanted = {
            (c.customer_number, contract_reference(c, periods[c.number][0])): c for c in chunk
        }
        taken = repository.references_taken(wanted) if billed is None else billed
        todo = [(key, c) for key, c in wanted.items() if key not in taken]
        if not todo:
            return 0, []
        profiles = repository.profiles({c.customer_number for _, c in todo})
        drafts: list[tuple[Invoice, BillingProfile]] = []
        due_on = model.due_date(day, None)
        now = self._clock.now()
        for (_, reference), contract in todo:
            account = accounts.get(contract.customer_number)
            if account is None:
                continue
            profile = profiles.get(account.number) or BillingProfile(account.number)
            try:
                rates = self._settings.taxes.rates_for(account.country, profile.region)
                items = model.check_items(
                    [
                        LineItem(
                            model.contract_line(
                                contract.kind.value,
                                contract.serial,
                                contract.product_code,
                                contract.number,
                                periods[contract.number],
                                profile.language,
                            ),
                            1,
                            contract.terms.amount,
                        )
                    ],
                    account.currency,
                )
            except PostroomError as error:  # the account's billing profile needs a fix
                log.warning("contract %s not billed: %s", contract.number, error.message)
                continue
            drafts.append(
                (
                    Invoice(
                        id=0,
                        number="",
                        kind=InvoiceKind(contract.kind.value),
                        customer_number=account.number,
                        customer=Party(account.name, profile.billing_address or (account.country,)),
                        seller=self._settings.seller,
                        currency=account.currency,
                        issued_on=day,
                        due_on=due_on,
                        lines=model.price_lines(items, rates),
                        reference=reference,
                        installation_number=installation.get(contract.serial),
                        language=profile.language,
                        created_at=now,
                    ),
                    profile,
                )
            )
        if not drafts:
            return 0, []
        first = repository.next_numbers(Series.INVOICE, day.year, len(drafts))
        for offset, (draft, _) in enumerate(drafts):
            # numbered before it is stored: not yet issued, so not yet immutable
            draft.number = model.format_number(Series.INVOICE, day.year, first + offset)
        numbered = drafts
        repository.add_many([invoice for invoice, _ in numbered])
        told = [
            messages.write(
                self._outbox,
                uow,
                invoice.customer_number,
                "billing.invoice-issued",
                messages.invoice_issued(invoice, self._settings.invoice_link(invoice.number)),
                {
                    "invoice": invoice.number,
                    "total": str(invoice.total),
                    "due_on": invoice.due_on.isoformat(),
                },
                profile.language,
                [messages.pdf_attachment(invoice, self._settings.invoice_link(invoice.number))],
            )
            for invoice, profile in numbered
            if profile.paperless
        ]
        uow.commit()
        return len(numbered), told

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
