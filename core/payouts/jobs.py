"""The payouts' background job, added to the registry when postroom opens.

Its name keeps the ``vault.`` prefix that queued jobs and operators know.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from postroom.core.hookspecs import hookimpl
from postroom.core.jobs import JobRegistry, PeriodicJob

if TYPE_CHECKING:
    from postroom.core.app import Postroom


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
