"""The identity area's background jobs, added to the registry when postroom opens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from postroom.core.hookspecs import hookimpl
from postroom.core.jobs import JobRegistry, PeriodicJob

if TYPE_CHECKING:
    from postroom.core.app import Postroom


def purge_unverified(postroom: Postroom) -> int:
    postroom.identity.forget_old_failures()
    return postroom.identity.purge_unverified()


@hookimpl
def register_jobs(registry: JobRegistry) -> None:
    registry.add_periodic(
        PeriodicJob(
            name="identity.purge-unverified",
            description="delete the people who did not verify their email within 30 days "
            "(they register again), and sign-in failure counts a day old",
            schedule={"hour": "4", "minute": "23"},
            run=purge_unverified,
        )
    )
