"""The live chat's background job, added to the registry when postroom opens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from postroom.core.hookspecs import hookimpl
from postroom.core.jobs import JobRegistry, PeriodicJob

if TYPE_CHECKING:
    from postroom.core.app import Postroom


def close_abandoned_chats(postroom: Postroom) -> int:
    return postroom.chat.close_abandoned()


@hookimpl
def register_jobs(registry: JobRegistry) -> None:
    registry.add_periodic(
        PeriodicJob(
            name="chat.close-abandoned",
            description="close each chat whose customer left 10 minutes ago; its "
            "transcript becomes a support case",
            schedule={"minute": "*"},
            run=close_abandoned_chats,
        )
    )
