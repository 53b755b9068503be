"""The postage line of credit's monthly statement: produced once per closed month
(opening balance, draws, payments, closing balance, minimum due), stored and sent to
the customer, then always answered from the store."""

from __future__ import annotations

from collections.abc import Mapping

from postroom.core.errors import NotFound
from postroom.core.funding.context import FundingContext, credit_line_code
from postroom.core.funding.model import Statement, month_bounds, parse_month, previous_month
from postroom.core.funding.ports import FundingRepos
from postroom.core.ledger.model import POSTING_PHASES, AccountKind


class Statements:
    def __init__(self, context: FundingContext) -> None:
        self._c = context

    def statement(self, customer_number: str, month: str | None = None) -> Statement:
        """The credit line's statement of ``month`` (YYYY-MM; default the last closed
        month), produced and sent once, then always the stored one."""
        statement, _ = self._statement(customer_number, month)
        return statement

    def run_statements(self, month: str | None = None) -> int:
        """The worker's job: every credit line's statement of the last closed month;
        returns how many were produced now (0 on a second run)."""

        made = 0
        for number in self._c.read(_line_owners):
            _, new = self._statement(number, month)
            made += new
        return made

    def statements_of_month(self, month: str | None = None) -> list[Statement]:
        """Every credit line's statement of ``month`` (default: the last closed one),
        produced and sent where it was not yet: what billing turns into invoices."""
        return [self._statement(number, month)[0] for number in self._c.read(_line_owners)]

    def _statement(self, customer_number: str, month: str | None) -> tuple[Statement, bool]:
        now = self._c.clock.now()
        year, mon = previous_month(now) if month is None else parse_month(month)
        # Compared as (year, month) first: the end of 9999-12 is past datetime's range.
        if (year, mon) >= (now.year, now.month):
            raise NotFound(
                f"{year:04d}-{mon:02d} is not over yet: statements cover closed months",
                code="month_not_closed",
            )
        start, end = month_bounds(year, mon)

        def work(repos: FundingRepos) -> tuple[Statement, str | None]:
            customer = repos.customers.customer(customer_number)
            stored = repos.funding.statement(customer.id, f"{year:04d}-{mon:02d}", customer.number)
            if stored is not None:
                return stored, None
            line = repos.ledger.account_by_code(credit_line_code(customer.number))
            if line is None:
                raise NotFound(
                    f"customer {customer.number} has no postage line of credit",
                    code="no_credit_line",
                )
            opening = draws = paid = 0
            for t in repos.ledger.transfers_touching([line.id], until=end, phases=POSTING_PHASES):
                owed = t.amount if t.debit_account_id == line.id else -t.amount
                if t.created_at < start:
                    opening += owed
                elif owed > 0:
                    draws += owed
                else:
                    paid -= owed
            statement = Statement.build(
                customer.number,
                year,
                mon,
                customer.currency,
                opening,
                draws,
                paid,
                line.credit_limit,
                now,
            )
            repos.funding.add_statement(customer.id, statement)
            m = statement.to_json()
            told = repos.messages.to_customer(
                customer.number,
                "credit_statement",
                f"Postage line of credit statement {statement.month}",
                f"Statement {statement.month}: opening {_money(m['opening_balance'])}, draws "
                f"{_money(m['draws'])}, payments {_money(m['payments'])}, closing "
                f"{_money(m['closing_balance'])}. Minimum due {_money(m['minimum_due'])} "
                f"by {statement.due_date.isoformat()}.",
                {
                    "month": statement.month,
                    "closing_balance": _money(m["closing_balance"]),
                    "minimum_due": _money(m["minimum_due"]),
                    "due_date": statement.due_date.isoformat(),
                },
            )
            repos.commit()
            return statement, told

        statement, told = self._c.write_racing(work)
        self._c.deliver(told)
        return statement, told is not None


def _line_owners(repos: FundingRepos) -> list[str]:
    """The numbers of the customers with a postage line of credit."""
    numbers = []
    for line in repos.ledger.accounts():
        if line.kind is AccountKind.CREDIT_LINE and line.owner_id is not None:
            customer = repos.customers.customer_by_id(line.owner_id)
            if customer is not None:
                numbers.append(customer.number)
    return numbers


def _money(data: Mapping[str, str]) -> str:
    return f"{data['amount']} {data['currency']}"
