"""In-memory fakes of what the meters area's use cases work on: the registry
(``MeterRepository``), the reset tokens (``ResetTokenRepository``), the outbox and the
rates; the ledger and the accounts come from ``fakes_money``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from postroom.core.meters.model import Alert, Meter, MeterStatus, Provisioned, StoredPiece
from postroom.core.meters.refill_store import IssuedReset
from postroom.core.ports import Notification


class FakeMeters:
    """``MeterRepository`` in memory."""

    def __init__(self, accounts: Any) -> None:
        self._accounts = accounts  # wiring: the customers, for their ids
        self.meters: dict[str, Meter] = {}
        self.owners: dict[str, int] = {}
        self.keys: dict[str, tuple[str, str]] = {}  # prefix -> (serial, secret hash)
        self.shipped: list[Provisioned] = []
        self.logged: dict[tuple[str, int], StoredPiece] = {}
        self.syncs: dict[str, tuple[str, dict[str, Any], dict[str, Any] | None]] = {}
        self.opened: list[tuple[Alert, str]] = []  # alerts with their fingerprints
        self.assets: list[tuple[str, str, str, str, bytes]] = []
        self.reminders: set[tuple[str, datetime, str]] = set()

    def sync_counts(self) -> tuple[int, int]:
        finished = sum(1 for s in self.syncs.values() if s[2] is not None)
        return finished, len(self.syncs) - finished

    def get(self, serial: str, *, lock: bool = False) -> Meter | None:
        found = self.meters.get(serial)
        return None if found is None else attrs.evolve(found)

    def find(self, customer_account_id: int | None = None) -> list[Meter]:
        return [
            attrs.evolve(m)
            for s, m in sorted(self.meters.items())
            if customer_account_id in (None, self.owners[s])
        ]

    def add(self, meter: Meter, customer_account_id: int, key_prefix: str, key_hash: str) -> None:
        assert meter.serial not in self.meters  # the primary key
        self.meters[meter.serial] = attrs.evolve(meter)
        self.owners[meter.serial] = customer_account_id
        self.keys[key_prefix] = (meter.serial, key_hash)

    def update(self, serial: str, **values: Any) -> None:
        key_hash = values.pop("key_hash", None)
        if "status" in values:
            values["status"] = MeterStatus(values["status"])
        if "cost_centers" in values:
            values["cost_centers"] = tuple(values["cost_centers"])
        meter = attrs.evolve(self.meters[serial], **values)
        if key_hash is not None:
            self.keys = {p: k for p, k in self.keys.items() if k[0] != serial}
            self.keys[str(meter.key_prefix)] = (serial, key_hash)
        self.meters[serial] = meter

    def key_hash(self, prefix: str) -> tuple[str, str] | None:
        return self.keys.get(prefix)

    def add_provisioned(self, provisioned: Provisioned) -> None:
        self.shipped.append(provisioned)

    def provisioned(
        self, *, number: str | None = None, serial: str | None = None
    ) -> Provisioned | None:
        for p in self.shipped:
            if number in (None, p.installation_number) and serial in (None, p.serial):
                return attrs.evolve(p, registered=p.serial in self.meters)
        return None

    def number_taken(self, number: str) -> bool:
        return any(p.installation_number == number for p in self.shipped)

    def add_pieces(self, pieces: Sequence[StoredPiece], uploaded_at: datetime) -> None:
        for p in pieces:
            assert (p.serial, p.piece) not in self.logged  # the primary key
            self.logged[(p.serial, p.piece)] = p

    def pieces(
        self, serial: str, *, limit: int = 50, unrecorded: bool = False
    ) -> list[StoredPiece]:
        mine = sorted(
            (p for (s, _), p in self.logged.items() if s == serial), key=lambda p: p.piece
        )
        if unrecorded:
            return [p for p in mine if not p.recorded]
        return mine[::-1][:limit]

    def pieces_numbered(self, serial: str, numbers: Iterable[int]) -> dict[int, StoredPiece]:
        return {n: self.logged[(serial, n)] for n in numbers if (serial, n) in self.logged}

    def mark_recorded(self, serial: str, transfer_id: str) -> None:
        for key, p in self.logged.items():
            if key[0] == serial and p.usage_transfer_id == transfer_id:
                self.logged[key] = attrs.evolve(p, recorded=True)

    def add_sync(self, sync_id: str, serial: str, now: datetime, plan: Mapping[str, Any]) -> None:
        self.syncs[sync_id] = (serial, dict(plan), None)

    def sync(self, sync_id: str) -> tuple[str, dict[str, Any], dict[str, Any] | None] | None:
        return self.syncs.get(sync_id)

    def finish_sync(self, sync_id: str, now: datetime, summary: Mapping[str, Any]) -> None:
        serial, plan, _ = self.syncs[sync_id]
        self.syncs[sync_id] = (serial, plan, dict(summary))

    def add_alert(
        self,
        serial: str,
        kind: str,
        fingerprint: str,
        message: str,
        details: Mapping[str, Any],
        now: datetime,
    ) -> bool:
        if any(f == fingerprint for _, f in self.opened):
            return False
        alert = Alert(len(self.opened) + 1, serial, kind, message, now, dict(details))
        self.opened.append((alert, fingerprint))
        return True

    def alerts(self, serial: str | None = None) -> list[Alert]:
        return [a for a, _ in self.opened if serial in (None, a.serial)]

    def add_asset(
        self, kind: str, scope: str, name: str, digest: str, data: bytes, now: datetime
    ) -> None:
        self.assets.append((kind, scope, name, digest, data))

    def latest_asset(
        self, kind: str, scope: str, name: str | None = None
    ) -> tuple[str, str, bytes] | None:
        for k, s, n, digest, data in reversed(self.assets):
            if (k, s) == (kind, scope) and name in (None, n):
                return n, digest, data
        return None

    def reminder_sent(self, serial: str, deadline: datetime, kind: str) -> bool:
        return (serial, deadline, kind) in self.reminders

    def add_reminder(self, serial: str, deadline: datetime, kind: str, now: datetime) -> bool:
        if (serial, deadline, kind) in self.reminders:
            return False
        self.reminders.add((serial, deadline, kind))
        return True


class FakeResetTokens:
    """``ResetTokenRepository`` in memory, with the told-of-a-cancellation marks."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, int], IssuedReset] = {}
        self.told: set[tuple[str, int]] = set()

    def by_transfer(self, transfer_id: str) -> IssuedReset | None:
        return next((r for r in self.rows.values() if r.transfer_id == transfer_id), None)

    def for_meter(self, serial: str) -> list[IssuedReset]:
        return sorted(
            (r for r in self.rows.values() if r.serial == serial), key=lambda r: r.sequence
        )

    def next_sequence(self, serial: str) -> int:
        return max((r.sequence for r in self.for_meter(serial)), default=0) + 1

    def add(self, token: IssuedReset, now: datetime) -> None:
        assert (token.serial, token.sequence) not in self.rows
        assert self.by_transfer(token.transfer_id) is None  # unique
        self.rows[(token.serial, token.sequence)] = token

    def _settle(self, serial: str, sequence: int, **values: Any) -> bool:
        row = self.rows.get((serial, sequence))
        if row is None or row.applied_at is not None or row.cancelled_at is not None:
            return False
        self.rows[(serial, sequence)] = attrs.evolve(row, **values)
        return True

    def mark_applied(
        self, serial: str, sequence: int, now: datetime, device_at: datetime | None = None
    ) -> bool:
        return self._settle(serial, sequence, applied_at=now, device_applied_at=device_at)

    def mark_cancelled(self, serial: str, sequence: int, transfer_id: str, now: datetime) -> bool:
        return self._settle(serial, sequence, cancelled_at=now, cancel_transfer_id=transfer_id)

    def expired_unapplied(
        self, before: datetime, limit: int, *, withdrawn: Iterable[str] = ()
    ) -> list[IssuedReset]:
        out = set(withdrawn)
        found = [
            r
            for r in self.rows.values()
            if r.serial not in out
            and r.expires_at <= before
            and r.amount.mills > 0
            and r.applied_at is None
            and r.cancelled_at is None
        ]
        return sorted(found, key=lambda r: (r.expires_at, r.serial, r.sequence))[:limit]

    def cancelled_unnotified(self, limit: int) -> list[IssuedReset]:
        found = [
            r for key, r in self.rows.items() if r.cancelled_at is not None and key not in self.told
        ]
        return sorted(found, key=lambda r: (r.cancelled_at, r.serial, r.sequence))[:limit]

    def mark_cancel_notified(self, serial: str, sequence: int, now: datetime) -> bool:
        row = self.rows.get((serial, sequence))
        if row is None or row.cancelled_at is None or (serial, sequence) in self.told:
            return False
        self.told.add((serial, sequence))
        return True


class FakeOutbox:
    """The outbox: messages written in a unit of work, delivered after its commit."""

    def __init__(self) -> None:
        self.queued: dict[str, Notification] = {}
        self.delivered: list[Notification] = []

    def add(self, connection: Any, notification: Notification) -> Notification:
        message = attrs.evolve(notification, id=notification.id or f"msg_{len(self.queued) + 1}")
        assert message.id not in self.queued
        self.queued[str(message.id)] = message
        return message

    def deliver(self, message_ids: Iterable[str]) -> int:
        done = [self.queued[i] for i in message_ids if i in self.queued]
        self.delivered.extend(done)
        return len(done)

    def kinds(self) -> list[str]:
        return [m.kind for m in self.delivered]


class FakeRates:
    """A rates area without tables: meters get no rate package."""

    def list_tables(self, carrier: str) -> list[Any]:
        return []
