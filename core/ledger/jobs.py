"""The ledger's background jobs, added to the registry when postroom opens.

Their names keep the ``vault.`` prefix that queued jobs and operators know.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from postroom.core.hookspecs import hookimpl
from postroom.core.jobs import JobRegistry, PeriodicJob

if TYPE_CHECKING:
    from postroom.core.app import Postroom


def expire_pending(postroom: Postroom) -> int:
    return postroom.ledger.expire_pending()


@hookimpl
def register_jobs(registry: JobRegistry) -> None:
    registry.add_periodic(
        PeriodicJob(
            name="vault.expire-pending",
            description="release reservations (pending transfers) whose timeout has passed",
            schedule={"minute": "*"},
            run=expire_pending,
        )
    )
