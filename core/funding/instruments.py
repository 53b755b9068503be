"""Payment instruments: what a customer pays with (a card, a bank account, the credit
line the data center grants), validated and described by its payment source."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import attrs

from postroom.core.accounts.model import CustomerAccount
from postroom.core.db import UnitOfWork
from postroom.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from postroom.core.funding.context import FundingContext, credit_line_code, find_instrument
from postroom.core.funding.model import Instrument, check_instrument_id
from postroom.core.funding.ports import FundingRepos
from postroom.core.funding.sources import CREDIT_LINE_KIND
from postroom.core.ledger.model import AccountKind
from postroom.core.money import Money
from postroom.core.ports import PaymentSource


class Instruments:
    def __init__(self, context: FundingContext) -> None:
        self._c = context

    def add_instrument(
        self,
        customer_number: str,
        source_code: str,
        fields: Mapping[str, str],
        *,
        self_service: bool = False,
    ) -> Instrument:
        """Validate ``fields`` with the source and store what it keeps.

        ``self_service`` is the customer acting on its own (the API): sources the data
        center grants (the credit line) are refused there (``source_not_self_service``).
        A credit line opens the customer's credit-line ledger account with its limit.
        """
        source = self._source(source_code, fields, self_service=self_service)

        def work(repos: FundingRepos) -> Instrument:
            instrument = self._add(repos, customer_number, source, fields)
            repos.commit()
            return instrument

        return self._c.write(work)

    def add_instrument_in(
        self,
        uow: UnitOfWork,
        customer_number: str,
        source_code: str,
        fields: Mapping[str, str],
    ) -> Instrument:
        """``add_instrument`` by the customer (self-service) inside the caller's unit of
        work (billing's mandate and its bank account commit together); the caller
        commits."""
        source = self._source(source_code, fields, self_service=True)
        return self._add(self._c.repositories(uow), customer_number, source, fields)

    def _source(
        self, source_code: str, fields: Mapping[str, str], *, self_service: bool
    ) -> PaymentSource:
        source = self._c.sources.usable(source_code)
        if self_service and not source.self_service:
            raise PermissionDenied(
                f"{source.name} is granted by the data center", code="source_not_self_service"
            )
        if not isinstance(fields, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in fields.items()
        ):
            raise ValidationError("instrument fields are text", code="invalid_instrument")
        return source

    def _add(
        self,
        repos: FundingRepos,
        customer_number: str,
        source: PaymentSource,
        fields: Mapping[str, str],
    ) -> Instrument:
        now = self._c.clock.now()
        customer = repos.customers.customer(customer_number)
        if source.currencies and customer.currency not in source.currencies:
            raise ValidationError(
                f"{source.name} collects {', '.join(source.currencies)}, "
                f"not the account's {customer.currency}",
                code="currency_not_supported",
            )
        details = dict(
            source.validate_instrument({**fields, "currency": customer.currency}, now=now)
        )
        if source.kind == CREDIT_LINE_KIND:
            self._open_credit_line(repos, customer, source, details)
        instrument = Instrument(
            id="pi_" + uuid.uuid4().hex[:20],
            customer_number=customer.number,
            source=source.code,
            label=source.describe(details),
            details=details,
            status="active",
            created_at=now,
        )
        repos.funding.add_instrument(
            instrument.id, customer.id, source.code, instrument.label, details, now
        )
        repos.funding.clear_declines(customer.id, now)  # a declined auto-refill resumes
        return instrument

    def _open_credit_line(
        self,
        repos: FundingRepos,
        customer: CustomerAccount,
        source: PaymentSource,
        details: Mapping[str, str],
    ) -> None:
        if any(
            self._c.sources.is_credit_line(i.source)
            for i in repos.funding.instruments(customer.id, customer.number)
        ):
            raise Conflict("the account has a credit line already", code="credit_line_exists")
        limit = int(details["limit_mills"])
        account = repos.ledger.account_by_code(credit_line_code(customer.number))
        if account is None:
            repos.ledger.add_account(
                credit_line_code(customer.number),
                AccountKind.CREDIT_LINE,
                customer.currency,
                customer.id,
                limit,
                True,
                False,
            )
        elif account.credit_limit != limit:
            raise Conflict(
                f"the credit line's limit is {Money(account.credit_limit, account.currency)}",
                code="credit_limit_differs",
            )

    def instruments(self, customer_number: str) -> list[Instrument]:
        def work(repos: FundingRepos) -> list[Instrument]:
            customer = repos.customers.customer(customer_number)
            return repos.funding.instruments(customer.id, customer.number)

        return self._c.read(work)

    def instrument(self, customer_number: str, instrument_id: str) -> Instrument:
        """The customer's instrument; another customer's is ``instrument_not_found``."""

        def work(repos: FundingRepos) -> Instrument:
            customer = repos.customers.customer(customer_number)
            return find_instrument(repos, customer, instrument_id)

        return self._c.read(work)

    def instrument_owner(self, instrument_id: str) -> str:
        """The customer account number an instrument belongs to."""
        clean = check_instrument_id(instrument_id)

        def work(repos: FundingRepos) -> str:
            owner = repos.funding.instrument_owner(clean)
            customer = None if owner is None else repos.customers.customer_by_id(owner)
            if customer is None:
                raise NotFound(f"no payment instrument {clean!r}", code="instrument_not_found")
            return customer.number

        return self._c.read(work)

    def remove_instrument(self, customer_number: str, instrument_id: str) -> Instrument:
        """Stop using an instrument (its payments stay on record)."""

        def work(repos: FundingRepos) -> Instrument:
            removed = self._remove(repos, customer_number, instrument_id)
            repos.commit()
            return removed

        return self._c.write(work)

    def remove_instrument_in(
        self, uow: UnitOfWork, customer_number: str, instrument_id: str
    ) -> Instrument:
        """``remove_instrument`` inside the caller's unit of work; the caller commits."""
        return self._remove(self._c.repositories(uow), customer_number, instrument_id)

    def _remove(self, repos: FundingRepos, customer_number: str, instrument_id: str) -> Instrument:
        customer = repos.customers.customer(customer_number)
        instrument = find_instrument(repos, customer, instrument_id)
        if instrument.status != "active":
            return instrument
        rule = repos.funding.rule(customer.id, customer.number)
        if rule is not None and rule.instrument_id == instrument.id:
            raise Conflict(
                "the auto-refill rule uses this instrument; change or turn it off first",
                code="instrument_in_use",
            )
        if self._c.sources.is_credit_line(instrument.source):
            line = repos.ledger.account_by_code(credit_line_code(customer.number))
            if line is not None and line.balances.balance < 0:
                raise Conflict(
                    "the credit line has an unpaid balance", code="credit_line_outstanding"
                )
        repos.funding.remove_instrument(instrument.id, self._c.clock.now())
        return attrs.evolve(instrument, status="removed")
