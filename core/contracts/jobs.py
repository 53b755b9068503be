"""The contracts' background job, added to the registry when postroom opens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from postroom.core.hookspecs import hookimpl
from postroom.core.jobs import JobRegistry, PeriodicJob

if TYPE_CHECKING:
    from postroom.core.app import Postroom


def renewal_reminders(postroom: Postroom) -> int:
    return postroom.contracts.send_renewal_reminders()


@hookimpl
def register_jobs(registry: JobRegistry) -> None:
    registry.add_periodic(
        PeriodicJob(
            name="contracts.renewal-reminders",
            description="email each equipment contract's renewal reminder once per term, "
            "60 days before the term ends",
            schedule={"hour": "6", "minute": "20"},
            run=renewal_reminders,
        )
    )
