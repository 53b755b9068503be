"""Meter alerts: what a sync found that a person must look at (``pr.meters.alerts``).

Each alert is opened once per fingerprint (serial, kind and the finding's key), however
often a sync runs again, and the data center is told through the outbox in the same
transaction.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError

from postroom.core.clock import Clock
from postroom.core.db import Database, UnitOfWork
from postroom.core.meters.model import Alert, Meter
from postroom.core.meters.store import MeterRepositories
from postroom.core.meters.sync_rules import AlertNote
from postroom.core.outbox import Outbox
from postroom.core.ports import Notification

log = logging.getLogger(__name__)

#: Who is told of a meter alert.
DATA_CENTER = "data-center"


class MeterAlerts:
    """Open and list meter alerts."""

    def __init__(
        self, db: Database, clock: Clock, outbox: Outbox, meters: MeterRepositories
    ) -> None:
        self._db = db
        self._clock = clock
        self._outbox = outbox
        self._meters = meters

    def list(self, serial: str | None = None) -> list[Alert]:
        return self._db.run(lambda uow: self._meters(uow).alerts(serial), readonly=True)

    def open(self, meter: Meter, note: AlertNote) -> bool:
        """Open ``note`` for ``meter`` and tell the data center; False when it was open."""
        fingerprint = f"{meter.serial}:{note.kind}:{note.key}"[:200]
        message = Notification(
            recipient=DATA_CENTER,
            subject=f"Meter {meter.serial}: {note.kind.replace('_', ' ')}",
            body=note.message,
            kind="meter.alert",
            data={"serial": meter.serial, "kind": note.kind, "customer": meter.customer_account},
        )

        def work(uow: UnitOfWork) -> str | None:
            added = self._meters(uow).add_alert(
                meter.serial,
                note.kind,
                fingerprint,
                note.message,
                note.details,
                self._clock.now(),
            )
            if not added:
                return None
            queued = self._outbox.add(uow.connection, message).id
            uow.commit()
            return queued

        try:
            queued = self._db.run(work)
        except IntegrityError:  # the same alert opened by a concurrent sync: one row
            queued = None
        if queued is None:
            return False
        log.warning("meter %s: %s: %s", meter.serial, note.kind, note.message)
        self._outbox.deliver([queued])
        return True
