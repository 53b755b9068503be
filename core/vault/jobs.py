"""The vault's background jobs, added to the registry when postroom opens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from postroom.core.hookspecs import hookimpl
from postroom.core.jobs import JobRegistry, PeriodicJob, Task

if TYPE_CHECKING:
    from postroom.core.app import Postroom


def expire_pending(postroom: Postroom) -> int:
    return postroom.vault.expire_pending()


def check_auto_refills(postroom: Postroom) -> int:
    return postroom.funding.check_all()


def check_postage_account(postroom: Postroom, account_id: int) -> None:
    postroom.funding.check_postage_account(account_id)


def settle_payments(postroom: Postroom) -> int:
    return postroom.funding.settle_due()


def credit_statements(postroom: Postroom) -> int:
    return postroom.funding.run_statements()


def cancel_expired_tokens(postroom: Postroom) -> int:
    return postroom.meters.cancel_expired_tokens()


def payouts(postroom: Postroom) -> int:
    return postroom.payouts.run_all()


@hookimpl
def register_jobs(registry: JobRegistry) -> None:
    registry.add_periodic(
        PeriodicJob(
            name="vault.payouts",
            description="pay the refunds payable of closed accounts back through the payment "
            "sources they came from (and finish runs a crash interrupted)",
            schedule={"minute": "23"},
            run=payouts,
        )
    )
    registry.add_periodic(
        PeriodicJob(
            name="vault.expire-pending",
            description="release reservations (pending transfers) whose timeout has passed",
            schedule={"minute": "*"},
            run=expire_pending,
        )
    )
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
    registry.add_periodic(
        PeriodicJob(
            name="vault.cancel-expired-tokens",
            description="return to the postage account each refill whose reset token expired"
            " unapplied (a day past its expiry), and tell the customer (idempotent)",
            schedule={"minute": "23"},
            run=cancel_expired_tokens,
        )
    )
