"""Tables and repository of the tracking area (SQLAlchemy Core).

``ShipmentRepository`` is the Protocol the use cases depend on; ``ShipmentStore`` is its
implementation on a unit of work's connection (tests use an in-memory fake).
``KeptTraceRequests`` is the default hand-over of a stuck parcel to support: it keeps
the request in ``shipment_trace_requests`` for staff until the support-cases area
implements ``ports.TraceRequests`` by opening a case.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Protocol

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from postroom.core.db import Database, UtcDateTime, metadata
from postroom.core.money import Money
from postroom.core.ports import DeliveryProof, ScanEvent, ShipmentStatus
from postroom.core.tracking.model import (
    FINAL,
    Customs,
    Flags,
    Parties,
    Shipment,
    Subscription,
    TraceRequest,
    WebhookDelivery,
)

shipments = sa.Table(
    "shipments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("number", sa.String(40), nullable=False),
    sa.Column("number_format", sa.String(30), nullable=False),
    sa.Column("carrier", sa.String(40), nullable=False),
    sa.Column("service", sa.String(200), nullable=False),
    sa.Column(
        "customer_number",
        sa.String(10),
        sa.ForeignKey("customer_accounts.number"),
        nullable=False,
    ),
    sa.Column("sender", sa.String(200), nullable=False),
    sa.Column("recipient", sa.String(200), nullable=False),
    sa.Column("origin", sa.String(200), nullable=False),
    sa.Column("destination", sa.String(200), nullable=False),
    sa.Column("mailed_on", sa.Date, nullable=True),
    sa.Column("reference", sa.String(200), nullable=False),
    sa.Column("customs_contents", sa.String(200), nullable=True),
    # HS codes joined by spaces (each 6 to 10 digits)
    sa.Column("customs_hs_codes", sa.String(200), nullable=True),
    sa.Column("customs_value_mills", sa.BigInteger, nullable=True),
    sa.Column("customs_currency", sa.String(3), nullable=True),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("delayed", sa.Boolean, nullable=False),
    sa.Column("lost_candidate", sa.Boolean, nullable=False),
    sa.Column("misrouted", sa.Boolean, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("status_changed_at", UtcDateTime(), nullable=False),
    sa.Column("last_scan_at", UtcDateTime(), nullable=True),
    sa.Column("checked_at", UtcDateTime(), nullable=True),
    sa.Column("next_check_at", UtcDateTime(), nullable=True),
    sa.Column("last_error", sa.String(40), nullable=False),
    sa.Column("delivered_at", UtcDateTime(), nullable=True),
    sa.Column("signed_by", sa.String(200), nullable=True),
    sa.Column("proof_reference", sa.String(200), nullable=True),
    sa.Column("auto_trace", sa.Boolean, nullable=False),
    sa.Column("trace_reference", sa.String(20), nullable=False),
    # one shipment per number and carrier in an account: a re-import adds nothing
    sa.UniqueConstraint("customer_number", "carrier", "number"),
    sa.Index("ix_shipments_number", "number"),
    sa.Index("ix_shipments_next_check_at", "next_check_at"),
    sa.Index("ix_shipments_customer_status", "customer_number", "status"),
)

shipment_events = sa.Table(
    "shipment_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "shipment_id",
        sa.Integer,
        sa.ForeignKey("shipments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("occurred_at", UtcDateTime(), nullable=False),
    # the scan's own offset from UTC, so its local time is shown as the carrier gave it
    sa.Column("utc_offset_minutes", sa.Integer, nullable=False),
    sa.Column("code", sa.String(40), nullable=False),
    sa.Column("description", sa.String(300), nullable=False),
    sa.Column("location", sa.String(200), nullable=False),
    sa.Column("status", sa.String(24), nullable=False),
    sa.UniqueConstraint("shipment_id", "occurred_at", "code", "location"),
)

shipment_trace_requests = sa.Table(
    "shipment_trace_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("reference", sa.String(20), nullable=False, unique=True),
    sa.Column(
        "shipment_id",
        sa.Integer,
        sa.ForeignKey("shipments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("customer_number", sa.String(10), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("note", sa.String(1000), nullable=False),
    sa.Column("requested_by", sa.String(200), nullable=False),
    sa.Column("requested_at", UtcDateTime(), nullable=False),
    sa.Index("ix_shipment_trace_requests_shipment", "shipment_id"),
)


tracking_subscriptions = sa.Table(
    "tracking_subscriptions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "customer_number",
        sa.String(10),
        sa.ForeignKey("customer_accounts.number"),
        nullable=False,
    ),
    # None: every shipment of the account
    sa.Column(
        "shipment_id", sa.Integer, sa.ForeignKey("shipments.id", ondelete="CASCADE"), nullable=True
    ),
    sa.Column("url", sa.String(500), nullable=False),
    sa.Column("secret", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    # the statuses told, space-separated; empty: every change
    sa.Column("events", sa.String(250), nullable=False, server_default=""),
    sa.Index("ix_tracking_subscriptions_customer", "customer_number"),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "subscription_id",
        sa.Integer,
        sa.ForeignKey("tracking_subscriptions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UtcDateTime(), nullable=True),
    sa.Column("last_result", sa.String(200), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("delivered_at", UtcDateTime(), nullable=True),
    sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
)


#: Columns of a scan row, in the order COPY writes them.
SCAN_COLUMNS = (
    "shipment_id",
    "occurred_at",
    "utc_offset_minutes",
    "code",
    "description",
    "location",
    "status",
)
_COPY_SCANS = f"COPY shipment_events ({', '.join(SCAN_COLUMNS)}) FROM STDIN"
# the column names are the constants above, never input
_INSERT_SCANS = (
    f"INSERT INTO shipment_events ({', '.join(SCAN_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' for _ in SCAN_COLUMNS)})"
)
#: From this many scans at once (a carrier's whole history of a parcel, an import) the
#: driver writes them itself: COPY on PostgreSQL, executemany on SQLite; fewer go
#: through SQLAlchemy's INSERT.
COPY_FROM = 20


class ShipmentRepository(Protocol):
    """What the tracking use cases read and write."""

    def add(self, shipment: Shipment) -> tuple[Shipment, bool]:
        """Store ``shipment`` (its ``id`` is ignored) unless the account already follows
        that number with that carrier; returns the stored one and whether it is new."""
        ...

    def get(self, shipment_id: int) -> Shipment | None: ...

    def by_number(self, number: str) -> list[Shipment]:
        """Every shipment with that tracking number (any account), newest first."""
        ...

    def status_of(self, number: str) -> ShipmentStatus | None:
        """The status of the newest shipment with that number (any account)."""
        ...

    def of_customer(
        self,
        customer_number: str,
        *,
        status: ShipmentStatus | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Shipment]: ...

    def scans(self, shipment_id: int) -> list[ScanEvent]:
        """The shipment's scans in the order they happened."""
        ...

    def add_scans(self, shipment_id: int, scans: Sequence[ScanEvent]) -> None: ...

    def update(self, shipment: Shipment) -> None:
        """Write the shipment's status, flags, times, error and proof."""
        ...

    def due(self, now: datetime, limit: int) -> list[Shipment]:
        """Shipments whose next check is due at ``now``, most overdue first."""
        ...

    def watched(self, limit: int, after_id: int = 0) -> list[Shipment]:
        """Shipments the stuck-parcel rules look at (not final), by id after ``after_id``."""
        ...

    def status_counts(self, customer_number: str) -> dict[ShipmentStatus, int]: ...


def _customs(row: Row[Any]) -> Customs | None:
    if row.customs_contents is None:
        return None
    return Customs(
        contents=row.customs_contents,
        hs_codes=tuple((row.customs_hs_codes or "").split()),
        value=Money(row.customs_value_mills, row.customs_currency),
    )


def shipment_from_row(row: Row[Any]) -> Shipment:
    proof = None
    if row.delivered_at is not None:
        proof = DeliveryProof(row.delivered_at, row.signed_by or "", row.proof_reference or "")
    return Shipment(
        id=row.id,
        number=row.number,
        number_format=row.number_format,
        carrier=row.carrier,
        service=row.service,
        customer_number=row.customer_number,
        parties=Parties(row.sender, row.recipient, row.origin, row.destination),
        mailed_on=row.mailed_on,
        reference=row.reference,
        customs=_customs(row),
        status=ShipmentStatus(row.status),
        flags=Flags(row.delayed, row.lost_candidate, row.misrouted),
        created_at=row.created_at,
        status_changed_at=row.status_changed_at,
        last_scan_at=row.last_scan_at,
        checked_at=row.checked_at,
        next_check_at=row.next_check_at,
        last_error=row.last_error,
        proof=proof,
        auto_trace=row.auto_trace,
        trace_reference=row.trace_reference,
    )


def _state_values(shipment: Shipment) -> dict[str, Any]:
    proof = shipment.proof
    return {
        "status": shipment.status.value,
        "delayed": shipment.flags.delayed,
        "lost_candidate": shipment.flags.lost_candidate,
        "misrouted": shipment.flags.misrouted,
        "status_changed_at": shipment.status_changed_at,
        "last_scan_at": shipment.last_scan_at,
        "checked_at": shipment.checked_at,
        "next_check_at": shipment.next_check_at,
        "last_error": shipment.last_error[:40],
        "delivered_at": None if proof is None else proof.delivered_at,
        "signed_by": None if proof is None else proof.signed_by[:200],
        "proof_reference": None if proof is None else proof.reference[:200],
        "trace_reference": shipment.trace_reference,
    }


def shipment_values(shipment: Shipment) -> dict[str, Any]:
    """The row of a new shipment (``id`` left to the database)."""
    customs = shipment.customs
    return {
        "number": shipment.number,
        "number_format": shipment.number_format,
        "carrier": shipment.carrier,
        "service": shipment.service,
        "customer_number": shipment.customer_number,
        "sender": shipment.parties.sender,
        "recipient": shipment.parties.recipient,
        "origin": shipment.parties.origin,
        "destination": shipment.parties.destination,
        "mailed_on": shipment.mailed_on,
        "reference": shipment.reference,
        "customs_contents": None if customs is None else customs.contents,
        "customs_hs_codes": None if customs is None else " ".join(customs.hs_codes),
        "customs_value_mills": None if customs is None else customs.value.mills,
        "customs_currency": None if customs is None else customs.value.currency,
        "created_at": shipment.created_at,
        "auto_trace": shipment.auto_trace,
        **_state_values(shipment),
    }


def scan_values(shipment_id: int, scan: ScanEvent) -> dict[str, Any]:
    offset = scan.occurred_at.utcoffset() or timedelta(0)
    return {
        "shipment_id": shipment_id,
        "occurred_at": scan.occurred_at,
        "utc_offset_minutes": int(offset.total_seconds() // 60),
        "code": scan.code[:40],
        "description": scan.description[:300],
        "location": scan.location[:200],
        "status": scan.status.value,
    }


def scan_from_row(row: Row[Any]) -> ScanEvent:
    local = timezone(timedelta(minutes=row.utc_offset_minutes))
    moment: datetime = row.occurred_at
    return ScanEvent(
        occurred_at=moment.astimezone(local if row.utc_offset_minutes else UTC),
        code=row.code,
        description=row.description,
        location=row.location,
        status=ShipmentStatus(row.status),
    )


class ShipmentStore:
    """``ShipmentRepository`` on a unit of work's connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add(self, shipment: Shipment) -> tuple[Shipment, bool]:
        t = shipments
        existing = self._c.execute(
            sa.select(t).where(
                t.c.customer_number == shipment.customer_number,
                t.c.carrier == shipment.carrier,
                t.c.number == shipment.number,
            )
        ).first()
        if existing is not None:
            return shipment_from_row(existing), False
        new_id = self._c.execute(
            t.insert().values(**shipment_values(shipment))
        ).inserted_primary_key
        assert new_id is not None
        stored = self.get(int(new_id[0]))
        assert stored is not None
        return stored, True

    def get(self, shipment_id: int) -> Shipment | None:
        row = self._c.execute(sa.select(shipments).where(shipments.c.id == shipment_id)).first()
        return None if row is None else shipment_from_row(row)

    def by_number(self, number: str) -> list[Shipment]:
        t = shipments
        rows = self._c.execute(sa.select(t).where(t.c.number == number).order_by(t.c.id.desc()))
        return [shipment_from_row(row) for row in rows]

    def status_of(self, number: str) -> ShipmentStatus | None:
        t = shipments
        found = self._c.execute(
            sa.select(t.c.status).where(t.c.number == number).order_by(t.c.id.desc()).limit(1)
        ).scalar()
        return None if found is None else ShipmentStatus(found)

    def of_customer(
        self,
        customer_number: str,
        *,
        status: ShipmentStatus | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Shipment]:
        t = shipments
        query = sa.select(t).where(t.c.customer_number == customer_number)
        if status is not None:
            query = query.where(t.c.status == status.value)
        rows = self._c.execute(query.order_by(t.c.id.desc()).limit(limit).offset(offset))
        return [shipment_from_row(row) for row in rows]

    def scans(self, shipment_id: int) -> list[ScanEvent]:
        e = shipment_events
        rows = self._c.execute(
            sa.select(e).where(e.c.shipment_id == shipment_id).order_by(e.c.occurred_at, e.c.id)
        )
        return [scan_from_row(row) for row in rows]

    def add_scans(self, shipment_id: int, scans: Sequence[ScanEvent]) -> None:
        if not scans:
            return
        rows = [scan_values(shipment_id, scan) for scan in scans]
        if len(rows) < COPY_FROM:
            self._c.execute(shipment_events.insert(), rows)
        elif self._c.dialect.name == "postgresql":
            self._copy_scans(rows)
        else:
            self._insert_scans_by_driver(rows)

    def _insert_scans_by_driver(self, rows: list[dict[str, Any]]) -> None:
        """Many scans at once on SQLite: the driver's executemany on the unit of work's
        connection (same transaction), the time bound as SQLAlchemy binds it."""
        moment = shipment_events.c.occurred_at.type.bind_processor(self._c.dialect)
        driver = self._c.connection.driver_connection
        assert driver is not None
        assert moment is not None
        driver.executemany(
            _INSERT_SCANS,
            [
                [
                    moment(row["occurred_at"]) if name == "occurred_at" else row[name]
                    for name in SCAN_COLUMNS
                ]
                for row in rows
            ],
        )

    def _copy_scans(self, rows: list[dict[str, Any]]) -> None:
        """Many scans at once on PostgreSQL: COPY on the unit of work's own connection
        (same transaction): over twice the rows a second of SQLAlchemy's INSERT."""
        driver = self._c.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor, cursor.copy(_COPY_SCANS) as copy:
            for row in rows:
                copy.write_row([row[name] for name in SCAN_COLUMNS])

    def update(self, shipment: Shipment) -> None:
        self._c.execute(
            shipments.update()
            .where(shipments.c.id == shipment.id)
            .values(**_state_values(shipment))
        )

    def due(self, now: datetime, limit: int) -> list[Shipment]:
        t = shipments
        rows = self._c.execute(
            sa.select(t)
            .where(t.c.next_check_at.is_not(None), t.c.next_check_at <= now)
            .order_by(t.c.next_check_at, t.c.id)
            .limit(limit)
        )
        return [shipment_from_row(row) for row in rows]

    def watched(self, limit: int, after_id: int = 0) -> list[Shipment]:
        t = shipments
        final = [status.value for status in FINAL]
        rows = self._c.execute(
            sa.select(t)
            .where(t.c.id > after_id, t.c.status.not_in(final))
            .order_by(t.c.id)
            .limit(limit)
        )
        return [shipment_from_row(row) for row in rows]

    def status_counts(self, customer_number: str) -> dict[ShipmentStatus, int]:
        t = shipments
        rows = self._c.execute(
            sa.select(t.c.status, sa.func.count())
            .where(t.c.customer_number == customer_number)
            .group_by(t.c.status)
        )
        counts: Counter[ShipmentStatus] = Counter()
        for status, count in rows:
            counts[ShipmentStatus(status)] = int(count)
        return dict(counts)


class KeptTraceRequests:
    """The default ``TraceRequests``: keeps each request for staff and answers its
    reference (``TR-`` and eight characters), in the caller's transaction."""

    def hand_over(self, connection: Connection, request: TraceRequest) -> str:
        reference = "TR-" + secrets.token_hex(4).upper()
        connection.execute(
            shipment_trace_requests.insert().values(
                reference=reference,
                shipment_id=request.shipment.id,
                customer_number=request.shipment.customer_number,
                kind=request.kind.value,
                note=request.note,
                requested_by=request.requested_by,
                requested_at=request.requested_at,
            )
        )
        return reference


_STATUSES = {status.value: status for status in ShipmentStatus}
_STATUS_BY_NUMBER = "SELECT status FROM shipments WHERE number = ? ORDER BY id DESC LIMIT 1"


class StatusByNumber:
    """``pr.tracking.status_of``, the hottest read there is: one driver statement,
    prepared once, on a pooled connection outside any unit of work (a lone SELECT
    needs no transaction of its own), answering the newest shipment's status through
    ``ix_shipments_number``; no SQLAlchemy statement is compiled and no row object is
    built per call."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._sql = _STATUS_BY_NUMBER.replace("?", db.placeholder)

    def __call__(self, number: str) -> ShipmentStatus | None:
        row = self._db.read_alone(self._sql, (number,))
        return None if row is None else _STATUSES[row[0]]


class WebhookStore:
    """Subscriptions and the delivery log of webhook alerts, on a unit of work's
    connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add_subscription(self, subscription: Subscription) -> Subscription:
        values = attrs.asdict(subscription, recurse=False)
        del values["id"]
        values["events"] = " ".join(sorted(status.value for status in subscription.events))
        new_id = self._c.execute(
            tracking_subscriptions.insert().values(**values)
        ).inserted_primary_key
        assert new_id is not None
        return attrs.evolve(subscription, id=int(new_id[0]))

    def subscriptions(self, customer_number: str) -> list[Subscription]:
        t = tracking_subscriptions
        rows = self._c.execute(
            sa.select(t).where(t.c.customer_number == customer_number).order_by(t.c.id)
        )
        return [_subscription(row) for row in rows]

    def remove_subscription(self, customer_number: str, subscription_id: int) -> bool:
        t = tracking_subscriptions
        done = self._c.execute(
            t.delete().where(t.c.id == subscription_id, t.c.customer_number == customer_number)
        )
        return bool(done.rowcount)

    def add_delivery(self, subscription_id: int, body: str, now: datetime) -> None:
        self._c.execute(
            webhook_deliveries.insert().values(
                subscription_id=subscription_id,
                body=body,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                last_result="",
                created_at=now,
            )
        )

    def due(self, now: datetime, limit: int) -> list[tuple[WebhookDelivery, Subscription]]:
        d, t = webhook_deliveries, tracking_subscriptions
        rows = self._c.execute(
            sa.select(d, t.c.url, t.c.secret, t.c.customer_number, t.c.shipment_id)
            .join(t, t.c.id == d.c.subscription_id)
            .where(d.c.status == "pending", d.c.next_attempt_at <= now)
            .order_by(d.c.next_attempt_at, d.c.id)
            .limit(limit)
        )
        return [
            (
                _delivery(row),
                Subscription(
                    row.subscription_id,
                    row.customer_number,
                    row.shipment_id,
                    row.url,
                    row.secret,
                    row.created_at,
                ),
            )
            for row in rows
        ]

    def record(self, delivery: WebhookDelivery) -> None:
        d = webhook_deliveries
        self._c.execute(
            d.update()
            .where(d.c.id == delivery.id)
            .values(
                status=delivery.status,
                attempts=delivery.attempts,
                next_attempt_at=delivery.next_attempt_at,
                last_result=delivery.last_result[:200],
                delivered_at=delivery.delivered_at,
            )
        )

    def log(self, customer_number: str, limit: int) -> list[WebhookDelivery]:
        d, t = webhook_deliveries, tracking_subscriptions
        rows = self._c.execute(
            sa.select(d)
            .join(t, t.c.id == d.c.subscription_id)
            .where(t.c.customer_number == customer_number)
            .order_by(d.c.id.desc())
            .limit(limit)
        )
        return [_delivery(row) for row in rows]


def _delivery(row: Row[Any]) -> WebhookDelivery:
    return WebhookDelivery(
        id=row.id,
        subscription_id=row.subscription_id,
        body=row.body,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_result=row.last_result,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
    )


def _subscription(row: Row[Any]) -> Subscription:
    return Subscription(
        id=row.id,
        customer_number=row.customer_number,
        shipment_id=row.shipment_id,
        url=row.url,
        secret=row.secret,
        created_at=row.created_at,
        events=frozenset(_STATUSES[value] for value in row.events.split()),
    )
