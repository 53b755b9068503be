"""postroom's own housekeeping jobs, added through the ``register_jobs`` hook like any
plugin's: the worker's heartbeat, outbox delivery, and SQLite maintenance."""

from __future__ import annotations

from typing import TYPE_CHECKING

from postroom.core.hookspecs import hookimpl
from postroom.core.jobs import JobRegistry, PeriodicJob

if TYPE_CHECKING:
    from postroom.core.app import Postroom


def heartbeat(postroom: Postroom) -> None:
    postroom.record_worker_heartbeat()


def deliver_notifications(postroom: Postroom) -> int:
    delivered = postroom.outbox.deliver_due()
    postroom.outbox.purge_delivered()
    return delivered


def sqlite_maintenance(postroom: Postroom) -> None:
    if postroom.db.dialect != "sqlite":
        return  # PostgreSQL has autovacuum and no WAL file of ours to fold
    with postroom.db.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA optimize")
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


@hookimpl
def register_jobs(registry: JobRegistry) -> None:
    registry.add_periodic(
        PeriodicJob(
            name="worker.heartbeat",
            description="record that a worker is alive (shown by /healthz)",
            schedule={"minute": "*"},
            run=heartbeat,
        )
    )
    registry.add_periodic(
        PeriodicJob(
            name="outbox.deliver",
            description="deliver notifications no notifier took yet, with backoff "
            "(failed after their last attempt, for an admin); purge delivered ones "
            "after 90 days",
            schedule={"minute": "*"},
            run=deliver_notifications,
        )
    )
    registry.add_periodic(
        PeriodicJob(
            name="db.sqlite-maintenance",
            description="on SQLite: refresh query statistics and fold the WAL into the "
            "database (nothing on PostgreSQL)",
            schedule={"hour": "3", "minute": "17"},
            run=sqlite_maintenance,
        )
    )
