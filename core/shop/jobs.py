"""The shop's background job, added to the registry when postroom opens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from postroom.core.hookspecs import hookimpl
from postroom.core.jobs import JobRegistry, PeriodicJob

if TYPE_CHECKING:
    from postroom.core.app import Postroom


def expire_unpaid(postroom: Postroom) -> int:
    return len(postroom.shop.expire_unpaid())


@hookimpl
def register_jobs(registry: JobRegistry) -> None:
    registry.add_periodic(
        PeriodicJob(
            name="shop.expire-unpaid",
            description="cancel the supplies orders still unpaid 24 hours after they were "
            "placed, their stock back on the shelf",
            schedule={"minute": "41"},
            run=expire_unpaid,
        )
    )
