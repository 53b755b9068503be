"""The meters' background jobs, added to the registry when postroom opens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from postroom.core.hookspecs import hookimpl
from postroom.core.jobs import JobRegistry, PeriodicJob

if TYPE_CHECKING:
    from postroom.core.app import Postroom


def inspection_reminders(postroom: Postroom) -> int:
    return postroom.meters.send_inspection_reminders()


def cancel_expired_tokens(postroom: Postroom) -> int:
    return postroom.meters.cancel_expired_tokens()


def finish_virtual_prints(postroom: Postroom) -> int:
    return postroom.meters.virtual.finish_interrupted()


@hookimpl
def register_jobs(registry: JobRegistry) -> None:
    registry.add_periodic(
        PeriodicJob(
            name="meters.inspection-reminders",
            description="warn customers before a meter's inspection deadline, and when overdue",
            schedule={"hour": "6", "minute": "5"},
            run=inspection_reminders,
        )
    )
    registry.add_periodic(
        PeriodicJob(
            name="meters.finish-virtual-prints",
            description="finish virtual-meter prints a crash interrupted: charge a signed "
            "piece, release the hold of one cut before signing (idempotent)",
            schedule={"minute": "*/5"},
            run=finish_virtual_prints,
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
