"""Funding (``pr.funding``): how money reaches the postage accounts.

``FundingService`` is the area's front door; each responsibility is a use-case class of
its own module, on one shared ``FundingContext`` (transactions, repositories, clock,
payment sources, outbox):

- instruments.py  ``Instruments``: payment instruments, the credit line's opening;
- collect.py      ``Collect``: deposits and credit-line payments through a source;
- settlement.py   ``Settlement``: bank debits settled, failed or returned, the debt a
  return leaves and the refill lock it sets (39 CFR 501.16);
- autorefill.py   ``AutoRefill``: the auto-refill rule and the low-balance alert;
- deposits.py     ``ManualDeposits``: staff credits with their audit;
- statements.py   ``Statements``: the credit line's monthly statement.

Money moves only through the ledger's API, with ``LedgerService.within(uow).post``, so
that a ledger transfer and the funding row that explains it commit together. The
use cases reach the database only through ``ports.FundingRepos``: the unit tests run
them on in-memory fakes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from postroom.core.accounts.model import CustomerAccount
from postroom.core.accounts.service import AccountsService
from postroom.core.clock import Clock
from postroom.core.db import Database, UnitOfWork
from postroom.core.errors import NotFound
from postroom.core.funding.autorefill import AutoRefill, CheckResult
from postroom.core.funding.collect import Collect
from postroom.core.funding.context import REFILL_LOCK_RULE, FundingContext, credit_line_code
from postroom.core.funding.deposits import ManualDeposits
from postroom.core.funding.instruments import Instruments
from postroom.core.funding.model import AutoRefillRule, Instrument, Payment
from postroom.core.funding.ports import sql_repositories
from postroom.core.funding.settlement import Settlement
from postroom.core.funding.sources import (
    CREDIT_LINE_KIND,
    PaymentDeclined,
    PaymentSources,
    PaymentSourceUnavailable,
    SandboxRefused,
    sandbox_source_codes,
)
from postroom.core.funding.statements import Statements
from postroom.core.ledger.service import LedgerService
from postroom.core.outbox import Outbox
from postroom.core.plugins import PluginManager
from postroom.core.ports import PaymentSource

if TYPE_CHECKING:
    from postroom.core.funding.store import FundingRepository

__all__ = [
    "CREDIT_LINE_KIND",
    "REFILL_LOCK_RULE",
    "CheckResult",
    "FundingOverview",
    "FundingService",
    "PaymentDeclined",
    "PaymentSourceUnavailable",
    "SandboxRefused",
    "credit_line_code",
    "sandbox_source_codes",
]


@attrs.frozen
class FundingOverview:
    """How a customer pays (``FundingService.overview``): the active instruments and
    the auto-refill rule if one is set."""

    instruments: list[Instrument]
    auto_refill: AutoRefillRule | None


class FundingService:
    """``pr.funding``: the funding use cases under their public names."""

    def __init__(self, context: FundingContext) -> None:
        """The use cases on ``context``'s transactions and repositories (the unit tests
        hand in fakes); ``on_database`` builds the real one."""
        self._c = context
        instruments = Instruments(context)
        collect = Collect(context)
        auto_refill = AutoRefill(context, collect)
        settlement = Settlement(context, after_return=auto_refill.check_account)
        deposits = ManualDeposits(context)
        statements = Statements(context)

        # instruments
        self.add_instrument = instruments.add_instrument
        self.instruments = instruments.instruments
        self.instrument = instruments.instrument
        self.instrument_owner = instruments.instrument_owner
        self.remove_instrument = instruments.remove_instrument
        self.add_instrument_in = instruments.add_instrument_in
        self.remove_instrument_in = instruments.remove_instrument_in
        # collecting payments
        self.deposit = collect.deposit
        self.pay_credit_line = collect.pay_credit_line
        self.purchase = collect.purchase
        self.refund_purchase = collect.refund_purchase
        self.pay_invoice = collect.pay_invoice
        self.payments = collect.payments
        self.payment = collect.payment
        # settlement, returns and the refill lock
        self.settle = settlement.settle
        self.settle_due = settlement.settle_due
        self.record_return = settlement.record_return
        self.record_failure = settlement.record_failure
        self.add_payment_listener = settlement.add_listener
        self.expected_settlement = settlement.expected_settlement
        self.expected_by = settlement.expected_by
        self.debt = settlement.debt
        self.refills_locked = settlement.refills_locked
        # auto-refill and low-balance alerts
        self.set_auto_refill = auto_refill.set_auto_refill
        self.auto_refill = auto_refill.auto_refill
        self.disable_auto_refill = auto_refill.disable_auto_refill
        self.check_account = auto_refill.check_account
        self.check_postage_account = auto_refill.check_postage_account
        self.wants_check = auto_refill.wants_check
        self.check_all = auto_refill.check_all
        # manual deposits and credit-line statements
        self.manual_deposit = deposits.manual_deposit
        self.manual_deposits = deposits.manual_deposits
        self.statement = statements.statement
        self.run_statements = statements.run_statements
        self.statements_of_month = statements.statements_of_month

    @classmethod
    def on_database(
        cls,
        db: Database,
        clock: Clock,
        plugins: PluginManager,
        ledger: LedgerService,
        accounts: AccountsService,
        outbox: Outbox,
        *,
        sandbox_allowed: bool = True,
    ) -> FundingService:
        """``pr.funding``: on the database, the plugins' payment sources and the outbox."""
        return cls(
            FundingContext(
                db,
                sql_repositories(ledger, accounts, outbox),
                clock,
                PaymentSources.from_plugins(plugins, sandbox_allowed=sandbox_allowed),
                outbox,
            )
        )

    # ------------------------------------------------------------------ sources

    def sources(self) -> dict[str, PaymentSource]:
        """The registered payment sources by code (plugins are fixed once opened)."""
        return self._c.sources.all()

    def source(self, code: str) -> PaymentSource:
        return self._c.sources.get(code)

    @property
    def sandbox_allowed(self) -> bool:
        """Whether sandbox sources may serve: outside production, or explicitly allowed."""
        return self._c.sources.sandbox_allowed

    def sandbox_sources(self) -> list[str]:
        return self._c.sources.sandbox_codes()

    def offered_sources(self) -> dict[str, PaymentSource]:
        """The sources customers may pick from: a refused sandbox is not offered."""
        return self._c.sources.offered()

    def overview(self, customer_number: str) -> FundingOverview:
        """The customer's payment instruments and auto-refill rule, in one read."""
        return self._c.read(
            lambda repos: self._overview(repos.funding, repos.customers.customer(customer_number))
        )

    @staticmethod
    def _overview(funding: FundingRepository, customer: CustomerAccount) -> FundingOverview:
        return FundingOverview(
            funding.instruments(customer.id, customer.number),
            funding.rule(customer.id, customer.number),
        )

    # ------------------------------------- for other areas, in their unit of work

    def overview_in(self, uow: UnitOfWork, customer: CustomerAccount) -> FundingOverview:
        """``overview`` inside the caller's unit of work (the portal's dashboard)."""
        return self._overview(self._c.repositories(uow).funding, customer)

    def payment_in(self, uow: UnitOfWork, payment_id: str, customer: CustomerAccount) -> Payment:
        """The customer's payment ``payment_id`` (``payment_not_found`` if not theirs)."""
        found = self._c.repositories(uow).funding.payment(payment_id, customer.id, customer.number)
        if found is None:
            raise NotFound(f"no payment {payment_id!r}", code="payment_not_found")
        return found

    def settled_payments_in(
        self, uow: UnitOfWork, customer_id: int, kinds: tuple[str, ...], sources: list[str]
    ) -> list[tuple[str, int]]:
        """(payment id, amount) of the customer's settled, fully paid payments of
        ``kinds`` from ``sources``, newest first: what a payout may give back through."""
        return self._c.repositories(uow).funding.settled_payments(customer_id, kinds, sources)

    def instrument_details_in(self, uow: UnitOfWork, payment_id: str) -> str:
        """The stored instrument (JSON) payment ``payment_id`` was collected from."""
        return self._c.repositories(uow).funding.instrument_details(payment_id)

    def add_refunded_in(self, uow: UnitOfWork, payment_id: str, mills: int) -> None:
        """Count ``mills`` more (less, for a returned refund) as given back by the
        payment (its status follows: ``refunded`` when all of it went back)."""
        self._c.repositories(uow).funding.add_refunded(payment_id, mills, self._c.clock.now())

    def refills_locked_in(self, uow: UnitOfWork, customer_account_id: int) -> bool:
        """Whether refills of the customer's meters are locked (a returned or failed
        payment unpaid, 39 CFR 501.16), in the caller's unit of work: the meters' port."""
        return self._c.repositories(uow).funding.refills_locked(customer_account_id)
