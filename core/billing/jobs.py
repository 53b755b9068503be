"""The billing area's background jobs, added to the registry when postroom opens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from postroom.core.hookspecs import hookimpl
from postroom.core.jobs import JobRegistry, PeriodicJob

if TYPE_CHECKING:
    from postroom.core.app import Postroom


def bill_contracts(postroom: Postroom) -> int:
    return postroom.billing.run_contracts()


def invoice_credit_statements(postroom: Postroom) -> int:
    return postroom.billing.run_credit_statements()


def auto_debit(postroom: Postroom) -> int:
    return postroom.billing.run_auto_debit()


@hookimpl
def register_jobs(registry: JobRegistry) -> None:
    registry.add_periodic(
        PeriodicJob(
            name="billing.contracts",
            description="invoice every running equipment contract's current billing "
            "period, once per period",
            schedule={"hour": "5", "minute": "10"},
            run=bill_contracts,
        )
    )
    registry.add_periodic(
        PeriodicJob(
            name="billing.credit-statements",
            description="turn each postage credit line's monthly statement into an invoice",
            schedule={"hour": "1", "minute": "45"},
            run=invoice_credit_statements,
        )
    )
    registry.add_periodic(
        PeriodicJob(
            name="billing.auto-debit",
            description="debit the invoices due today of customers with automatic debit, "
            "once per invoice",
            schedule={"hour": "7", "minute": "5"},
            run=auto_debit,
        )
    )
