"""In-memory fakes of what the tracking use cases depend on: the repository, the
transactions (rolled back unless committed), the accounts, the customer messages, the
support hand-over and a carrier whose answers a test writes. No I/O."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs
from fakes_transactions import StateDatabase

from postroom.core.accounts.model import AccountStatus, CustomerAccount
from postroom.core.errors import NotFound
from postroom.core.ports import (
    ParcelTracking,
    ScanEvent,
    ShipmentStatus,
    TrackingFailure,
    Translation,
)
from postroom.core.tracking.model import (
    FINAL,
    Shipment,
    ShipmentSummary,
    Subscription,
    TraceRequest,
    WebhookDelivery,
)


@attrs.define
class State:
    shipments: dict[int, Shipment] = attrs.field(factory=dict)
    scans: dict[int, list[ScanEvent]] = attrs.field(factory=dict)
    messages: list[dict[str, Any]] = attrs.field(factory=list)
    handed_over: list[tuple[str, TraceRequest]] = attrs.field(factory=list)
    subscriptions: list[Subscription] = attrs.field(factory=list)
    deliveries: list[WebhookDelivery] = attrs.field(factory=list)


class FakeDatabase(StateDatabase[State]):
    def __init__(self) -> None:
        super().__init__(State())


@attrs.define
class FakeShipments:
    """``ShipmentRepository`` on the fake database's state."""

    db: FakeDatabase

    @property
    def _s(self) -> State:
        return self.db.state

    def add(self, shipment: Shipment) -> tuple[Shipment, bool]:
        for stored in self._s.shipments.values():
            if (stored.customer_number, stored.carrier, stored.number) == (
                shipment.customer_number,
                shipment.carrier,
                shipment.number,
            ):
                return copy.deepcopy(stored), False
        new = attrs.evolve(shipment, id=len(self._s.shipments) + 1)
        self._s.shipments[new.id] = new
        self._s.scans[new.id] = []
        return copy.deepcopy(new), True

    def get(self, shipment_id: int) -> Shipment | None:
        found = self._s.shipments.get(shipment_id)
        return copy.deepcopy(found)

    def by_number(self, number: str) -> list[Shipment]:
        found = [s for s in self._s.shipments.values() if s.number == number]
        return [copy.deepcopy(s) for s in sorted(found, key=lambda s: -s.id)]

    def status_of(self, number: str) -> ShipmentStatus | None:
        found = self.by_number(number)
        return found[0].status if found else None

    def of_customer(
        self,
        customer_number: str,
        *,
        status: ShipmentStatus | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Shipment]:
        found = [
            s
            for s in sorted(self._s.shipments.values(), key=lambda s: -s.id)
            if s.customer_number == customer_number and status in (None, s.status)
        ]
        return [copy.deepcopy(s) for s in found[offset : offset + limit]]

    def scans(self, shipment_id: int) -> list[ScanEvent]:
        return sorted(self._s.scans[shipment_id], key=lambda e: (e.occurred_at, e.code))

    def add_scans(self, shipment_id: int, scans: Sequence[ScanEvent]) -> None:
        self._s.scans[shipment_id].extend(scans)

    def update(self, shipment: Shipment) -> None:
        self._s.shipments[shipment.id] = copy.deepcopy(shipment)

    def due(self, now: datetime, limit: int) -> list[Shipment]:
        found = [
            s
            for s in self._s.shipments.values()
            if s.next_check_at is not None and s.next_check_at <= now
        ]
        found.sort(key=lambda s: (s.next_check_at, s.id))
        return [copy.deepcopy(s) for s in found[:limit]]

    def watched(self, limit: int, after_id: int = 0) -> list[Shipment]:
        found = [
            s
            for id_, s in sorted(self._s.shipments.items())
            if id_ > after_id and s.status not in FINAL
        ]
        return [copy.deepcopy(s) for s in found[:limit]]

    def newest_summaries(self, customer_number: str, limit: int) -> list[ShipmentSummary]:
        return [
            ShipmentSummary(s.id, s.number, s.reference, s.status)
            for s in self.of_customer(customer_number, limit=limit)
        ]

    def status_counts(self, customer_number: str) -> dict[ShipmentStatus, int]:
        counts: dict[ShipmentStatus, int] = {}
        for s in self._s.shipments.values():
            if s.customer_number == customer_number:
                counts[s.status] = counts.get(s.status, 0) + 1
        return counts


@attrs.define
class FakeMessages:
    db: FakeDatabase
    delivered: list[str] = attrs.field(factory=list)

    def add_for_customer(
        self,
        connection: Any,
        customer_number: str,
        kind: str,
        subject: str,
        body: str,
        data: Mapping[str, str],
        *,
        language: str = "en",
        translations: Mapping[str, Translation] | None = None,
    ) -> str:
        message_id = f"msg_{len(self.db.state.messages) + 1}"
        self.db.state.messages.append(
            {
                "id": message_id,
                "to": customer_number,
                "kind": kind,
                "subject": subject,
                "body": body,
                "data": dict(data),
                "translations": dict(translations or {}),
            }
        )
        return message_id

    def deliver(self, message_ids: Iterable[str]) -> int:
        ids = list(message_ids)
        self.delivered.extend(ids)
        return len(ids)


@attrs.define
class FakeSupport:
    """The support side of stuck parcels: takes requests, answers a case reference."""

    db: FakeDatabase

    def hand_over(self, connection: Any, request: TraceRequest) -> str:
        reference = f"CASE-{len(self.db.state.handed_over) + 1}"
        self.db.state.handed_over.append((reference, request))
        return reference


def account(number: str) -> CustomerAccount:
    return CustomerAccount(
        id=int(number[:4]),
        number=number,
        name=f"Customer {number}",
        country="US",
        currency="USD",
        status=AccountStatus.ACTIVE,
        created_at=datetime.fromisoformat("2026-01-01T00:00:00+00:00"),
    )


@attrs.define
class FakeAccounts:
    accounts: dict[str, CustomerAccount] = attrs.field(factory=dict)

    def get(self, number: str) -> CustomerAccount:
        if number not in self.accounts:
            raise NotFound(f"no customer account {number}", code="account_not_found")
        return self.accounts[number]


@attrs.define
class ScriptedCarrier:
    """A carrier whose answer per number the test sets (``answers``); numbers it was
    not told of are ``not_found``. Records every batch it was asked."""

    code: str = "scripted"
    name: str = "Scripted carrier"
    number_carriers: tuple[str, ...] = ("usps", "ups", "fedex", "dhl", "upu")
    sandbox: bool = False
    answers: dict[str, ParcelTracking | TrackingFailure] = attrs.field(factory=dict)
    batches: list[list[str]] = attrs.field(factory=list)
    broken: bool = False

    def track(
        self, numbers: Sequence[str], *, now: datetime
    ) -> Mapping[str, ParcelTracking | TrackingFailure]:
        self.batches.append(list(numbers))
        if self.broken:
            raise RuntimeError("the plugin has a bug")
        return {
            n: self.answers.get(n, TrackingFailure(n, "not_found", "unknown number"))
            for n in numbers
        }


@attrs.define
class FakeWebhookStore:
    """``WebhookRepository`` on the fake database's state."""

    db: FakeDatabase

    def add_subscription(self, subscription: Subscription) -> Subscription:
        made = attrs.evolve(subscription, id=len(self.db.state.subscriptions) + 1)
        self.db.state.subscriptions.append(made)
        return made

    def subscriptions(self, customer_number: str) -> list[Subscription]:
        return [s for s in self.db.state.subscriptions if s.customer_number == customer_number]

    def remove_subscription(self, customer_number: str, subscription_id: int) -> bool:
        before = len(self.db.state.subscriptions)
        self.db.state.subscriptions = [
            s
            for s in self.db.state.subscriptions
            if not (s.id == subscription_id and s.customer_number == customer_number)
        ]
        return len(self.db.state.subscriptions) < before

    def add_delivery(self, subscription_id: int, body: str, now: datetime) -> None:
        self.db.state.deliveries.append(
            WebhookDelivery(
                len(self.db.state.deliveries) + 1, subscription_id, body, "pending", 0, now, "", now
            )
        )

    def due(self, now: datetime, limit: int) -> list[tuple[WebhookDelivery, Subscription]]:
        by_id = {s.id: s for s in self.db.state.subscriptions}
        return [
            (copy.deepcopy(d), by_id[d.subscription_id])
            for d in self.db.state.deliveries
            if d.status == "pending" and d.next_attempt_at is not None and d.next_attempt_at <= now
        ][:limit]

    def record(self, delivery: WebhookDelivery) -> None:
        self.db.state.deliveries[delivery.id - 1] = copy.deepcopy(delivery)

    def log(self, customer_number: str, limit: int) -> list[WebhookDelivery]:
        mine = {s.id for s in self.subscriptions(customer_number)}
        return [d for d in reversed(self.db.state.deliveries) if d.subscription_id in mine][:limit]


@attrs.define
class RecordingWebhooks:
    """A receiver that answers the statuses a test queues (200 when none) and keeps
    what it got; ``refuse`` names hosts whose addresses webhooks may not reach."""

    answers: list[int | Exception] = attrs.field(factory=list)
    received: list[tuple[str, bytes, dict[str, str]]] = attrs.field(factory=list)
    refuse: tuple[str, ...] = ("localhost", "127.0.0.1", "10.0.0.1", "169.254.169.254")

    def check(self, url: str) -> None:
        if any(f"//{host}" in url for host in self.refuse):
            raise ValueError("resolves to an address webhooks may not reach")

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        self.check(url)
        self.received.append((url, body, dict(headers)))
        answer = self.answers.pop(0) if self.answers else 200
        if isinstance(answer, Exception):
            raise answer
        return answer
