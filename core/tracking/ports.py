"""What the tracking area needs from outside it, as Protocols the composition root wires.

``TraceRequests`` is the hand-over of a stuck parcel to support (a trace, a lost-parcel
report that becomes a claim, a reroute or redelivery request): its default
implementation (``store.KeptTraceRequests``) keeps the request for staff; the
support-cases area implements it by opening a case linked to the shipment. The others
are the parts of other areas' services this area calls (``pr.accounts``,
``pr.outbox``), narrowed so that use cases are tested on fakes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Protocol, TypeVar

from sqlalchemy.engine import Connection

from postroom.core.accounts.model import CustomerAccount
from postroom.core.ports import ShipmentStatus, Translation
from postroom.core.tracking.model import Shipment, Subscription, TraceRequest, WebhookDelivery

T = TypeVar("T")


class TraceRequests(Protocol):
    def hand_over(self, connection: Connection, request: TraceRequest) -> str:
        """Take ``request`` in the caller's transaction (it commits or rolls back with
        it); return the reference the customer quotes to support."""
        ...


class CustomerAccounts(Protocol):
    def get(self, number: str) -> CustomerAccount: ...


class CustomerMessages(Protocol):
    def add_for_customer(
        self,
        connection: Connection,
        customer_number: str,
        kind: str,
        subject: str,
        body: str,
        data: Mapping[str, str],
        *,
        language: str = "en",
        translations: Mapping[str, Translation] | None = None,
    ) -> str: ...

    def deliver(self, message_ids: Iterable[str]) -> int: ...


#: Told of each committed status change (the ``shipment_status_changed`` hook).
StatusListener = Callable[[Shipment, ShipmentStatus, ShipmentStatus], None]


#: The status of the newest shipment with a (normalised) number, or None
#: (``store.StatusByNumber``).
StatusReader = Callable[[str], ShipmentStatus | None]


class Session(Protocol):
    @property
    def connection(self) -> Connection: ...

    def commit(self) -> None: ...


class Transactions(Protocol):
    """``Database.run``: ``work`` in one transaction, rolled back unless it commits."""

    def run(self, work: Callable[[Session], T], *, readonly: bool = False) -> T: ...


class WebhookPoster(Protocol):
    """Sends webhook bodies (``webhook_http.HttpWebhooks``): ``check`` refuses a URL
    whose host resolves to an address webhooks may not reach; ``post`` checks again,
    sends, and answers the receiver's HTTP status (raises when it cannot be reached)."""

    def check(self, url: str) -> None: ...

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int: ...


class WebhookRepository(Protocol):
    def add_subscription(self, subscription: Subscription) -> Subscription: ...

    def subscriptions(self, customer_number: str) -> list[Subscription]: ...

    def remove_subscription(self, customer_number: str, subscription_id: int) -> bool: ...

    def add_delivery(self, subscription_id: int, body: str, now: datetime) -> None: ...

    def due(self, now: datetime, limit: int) -> list[tuple[WebhookDelivery, Subscription]]: ...

    def record(self, delivery: WebhookDelivery) -> None: ...

    def log(self, customer_number: str, limit: int) -> list[WebhookDelivery]: ...
