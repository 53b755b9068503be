"""The tracking area's background jobs, added to the registry when postroom opens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from postroom.core.hookspecs import hookimpl
from postroom.core.jobs import JobRegistry, PeriodicJob

if TYPE_CHECKING:
    from postroom.core.app import Postroom


def refresh(postroom: Postroom) -> int:
    return postroom.tracking.refresh_due().checked


def rules(postroom: Postroom) -> int:
    return postroom.tracking.apply_rules()


def webhooks(postroom: Postroom) -> int:
    return postroom.tracking.deliver_webhooks()


@hookimpl
def register_jobs(registry: JobRegistry) -> None:
    registry.add_periodic(
        PeriodicJob(
            name="tracking.refresh",
            description="ask the carriers about every shipment whose next check is due "
            "(every 30 minutes out for delivery, 4 hours in transit)",
            schedule={"minute": "*/5"},
            run=refresh,
        )
    )
    registry.add_periodic(
        PeriodicJob(
            name="tracking.rules",
            description="flag delayed parcels, lost candidates (7 days without a scan), "
            "lost ones (10 days; automatic trace) and expired numbers (30 days)",
            schedule={"minute": "17"},
            run=rules,
        )
    )
    registry.add_periodic(
        PeriodicJob(
            name="tracking.webhooks",
            description="send the tracking webhooks that are due (signed, retried with backoff)",
            schedule={"minute": "*"},
            run=webhooks,
        )
    )
