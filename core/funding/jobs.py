"""Funding's background jobs, added to the registry when postroom opens.

Their names keep the ``vault.`` prefix that queued jobs and operators know.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from postroom.core.hookspecs import hookimpl
from postroom.core.jobs import JobRegistry, PeriodicJob, Task

if TYPE_CHECKING:
    from postroom.core.app import Postroom


def check_auto_refills(postroom: Postroom) -> int:
    return postroom.funding.check_all()


def check_postage_account(postroom: Postroom, account_id: int) -> None:
    postroom.funding.check_postage_account(account_id)


def settle_payments(postroom: Postroom) -> int:
    return postroom.funding.settle_due()


def credit_statements(postroom: Postroom) -> int:
    return postroom.funding.run_statements()


@hookimpl
def register_jobs(registry: JobRegistry) -> None:
    registry.add_periodic(
        PeriodicJob(
            name="vault.auto-refill",
            description="run every auto-refill rule and low-balance alert (idempotent)",
            schedule={"minute": "*/5"},
            run=check_auto_refills,
        )
    )
    registry.add_task(
        Task(
            name="vault.check-postage-account",
            description="auto-refill and low-balance alert of one postage account, after a debit",
            run=check_postage_account,
            retries=0,
        )
    )
    registry.add_periodic(
        PeriodicJob(
            name="vault.credit-statements",
            description="the postage line of credit's statement of the last closed month "
            "(one per account and month; daily so a missed run catches up)",
            schedule={"hour": "1", "minute": "15"},
            run=credit_statements,
        )
    )
    registry.add_periodic(
        PeriodicJob(
            name="vault.settle-payments",
            description="settle bank debits whose source's settlement period passed "
            "without a failure or return (then they pay outstanding debts)",
            schedule={"minute": "7"},
            run=settle_payments,
        )
    )
