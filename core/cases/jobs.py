"""The support cases' background job, added to the registry when postroom opens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from postroom.core.hookspecs import hookimpl
from postroom.core.jobs import JobRegistry, PeriodicJob

if TYPE_CHECKING:
    from postroom.core.app import Postroom


def watch_slas(postroom: Postroom) -> int:
    run = postroom.cases.watch_slas()
    return len(run.warned) + len(run.breached)


@hookimpl
def register_jobs(registry: JobRegistry) -> None:
    registry.add_periodic(
        PeriodicJob(
            name="cases.sla-watch",
            description="warn each support case's assignee before an SLA deadline and "
            "escalate the cases past one",
            schedule={"minute": "*"},
            run=watch_slas,
        )
    )
