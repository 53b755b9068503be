"""Meter inspections: a meter connects to the data center within the inspection period
or stops printing (``InspectionRules``); its customer is warned before the deadline and
told once it passed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from postroom.core.clock import Clock
from postroom.core.db import Database, UnitOfWork
from postroom.core.meters.model import InspectionRules, Meter, MeterStatus
from postroom.core.meters.registry import MeterRegistry
from postroom.core.meters.store import MeterRepositories
from postroom.core.outbox import CUSTOMER_PREFIX, Outbox
from postroom.core.ports import Notification


class MeterInspections:
    """Where each meter's inspection stands, and the reminders."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        outbox: Outbox,
        rules: InspectionRules,
        registry: MeterRegistry,
        meters: MeterRepositories,
    ) -> None:
        self._db = db
        self._clock = clock
        self._outbox = outbox
        self.rules = rules
        self._registry = registry
        self._meters = meters

    def inspection(self, meter: Meter) -> dict[str, Any]:
        base = meter.inspected_at or meter.registered_at
        now = self._clock.now()
        return {
            "last_inspection": None if meter.inspected_at is None else base.isoformat(),
            "due_at": self.rules.due_at(base).isoformat(),
            "lock_at": self.rules.lock_at(base).isoformat(),
            "status": self.rules.status(base, now),
        }

    def send_reminders(self) -> int:
        """Warn each customer ``warning_days`` before a meter's inspection deadline (the
        date it locks) and again once it is overdue: one message per meter, deadline and
        kind, however often this runs. Returns the number sent."""
        now = self._clock.now()
        sent = 0
        for meter in self._registry.list():
            if meter.status is not MeterStatus.ACTIVE:
                continue
            base = meter.inspected_at or meter.registered_at
            kind = self.rules.reminder(base, now)
            if kind is None:
                continue
            deadline = self.rules.lock_at(base)
            if self._sent(meter, deadline, kind):
                continue
            if self._send(meter, deadline, kind, _reminder(meter, base, deadline, kind), now):
                sent += 1
        return sent

    def _sent(self, meter: Meter, deadline: datetime, kind: str) -> bool:
        return self._db.run(
            lambda uow: self._meters(uow).reminder_sent(meter.serial, deadline, kind),
            readonly=True,
        )

    def _send(
        self, meter: Meter, deadline: datetime, kind: str, message: Notification, now: datetime
    ) -> bool:
        def mark(uow: UnitOfWork) -> str | None:
            if not self._meters(uow).add_reminder(meter.serial, deadline, kind, now):
                return None
            queued = self._outbox.add(uow.connection, message).id
            uow.commit()
            return queued

        queued = self._db.run(mark)
        if queued is None:
            return False
        self._outbox.deliver([queued])  # retried by the outbox when no notifier took it
        return True


def _reminder(meter: Meter, base: datetime, deadline: datetime, kind: str) -> Notification:
    if kind == "warning":
        subject = f"Meter {meter.serial}: connect it to the data center by {deadline.date()}"
        body = (
            f"Your postage meter {meter.serial} must connect to the data center for"
            f" its inspection before {deadline.date().isoformat()}; after that date it"
            " stops printing postage until it connects."
        )
    else:
        subject = f"Meter {meter.serial}: inspection overdue, printing blocked"
        body = (
            f"Your postage meter {meter.serial} has not connected to the data center"
            f" since {base.date().isoformat()}: it no longer prints postage. Run"
            " `postroom meter connect` to restore it."
        )
    return Notification(
        recipient=f"{CUSTOMER_PREFIX}{meter.customer_account}",
        subject=subject,
        body=body,
        kind=f"meter.inspection_{kind}",
        data={"serial": meter.serial, "deadline": deadline.isoformat()},
    )
