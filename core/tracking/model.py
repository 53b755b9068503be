"""The tracking area's values, entities and pure rules (no I/O).

A ``Shipment`` is a parcel a customer account follows: its tracking number and
carrier, who sent it to whom, and where it stands (its normalized status and the
flags the rules set). Its journey is the carrier's ``ScanEvent``s (``ports``).

The rules: ``merge_scans`` folds a carrier's answer into a shipment (new scans only,
status from the latest scan, scans that go back to a place already left),
``assess`` finds the stuck ones (delayed, lost candidate, lost, expired) and
``next_check`` says when to ask the carrier again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from enum import StrEnum

import attrs

from postroom.core.errors import ValidationError
from postroom.core.money import Money
from postroom.core.ports import DeliveryProof, ScanEvent, ShipmentStatus
from postroom.core.text import check_no_control

#: Statuses after which the carrier has nothing more to say.
FINAL = frozenset(
    {ShipmentStatus.DELIVERED, ShipmentStatus.RETURNED_TO_SENDER, ShipmentStatus.EXPIRED}
)
#: Statuses of a parcel still on its way (the ones the stuck-parcel rules watch).
MOVING = frozenset(
    {
        ShipmentStatus.INFO_RECEIVED,
        ShipmentStatus.IN_TRANSIT,
        ShipmentStatus.OUT_FOR_DELIVERY,
        ShipmentStatus.DELIVERY_ATTEMPTED,
        ShipmentStatus.AVAILABLE_FOR_PICKUP,
        ShipmentStatus.EXCEPTION,
    }
)

#: No new scan for this long: a lost candidate, and "request a trace" is suggested.
LOST_CANDIDATE_AFTER = timedelta(days=7)
#: No new scan for this long: the rules mark the parcel lost (a later scan revives it).
LOST_AFTER = timedelta(days=10)
#: No information at all for this long after it was added: the shipment expires.
EXPIRE_AFTER = timedelta(days=30)

#: The longest normal wait between two scans, by service family (the service name's
#: first matching word); past it a moving parcel is delayed.
SERVICE_NORMS: tuple[tuple[str, timedelta], ...] = (
    ("express", timedelta(days=1)),
    ("overnight", timedelta(days=1)),
    ("priority", timedelta(days=2)),
    ("first", timedelta(days=3)),
    ("ground", timedelta(days=4)),
    ("economy", timedelta(days=5)),
    ("international", timedelta(days=5)),
)
DEFAULT_NORM = timedelta(days=3)

#: How often the worker asks the carrier, by status (None: never again).
CHECK_EVERY: dict[ShipmentStatus, timedelta | None] = {
    ShipmentStatus.PENDING: timedelta(hours=12),
    ShipmentStatus.INFO_RECEIVED: timedelta(hours=6),
    ShipmentStatus.IN_TRANSIT: timedelta(hours=4),
    ShipmentStatus.OUT_FOR_DELIVERY: timedelta(minutes=30),
    ShipmentStatus.DELIVERY_ATTEMPTED: timedelta(hours=2),
    ShipmentStatus.AVAILABLE_FOR_PICKUP: timedelta(hours=6),
    ShipmentStatus.EXCEPTION: timedelta(hours=2),
    ShipmentStatus.LOST: timedelta(days=1),
    ShipmentStatus.DELIVERED: None,
    ShipmentStatus.RETURNED_TO_SENDER: None,
    ShipmentStatus.EXPIRED: None,
}

MAX_TEXT = 200


@attrs.frozen
class Customs:
    """An international parcel's customs declaration: what it holds, the HS codes of
    its contents (6 to 10 digits each) and its declared value."""

    contents: str
    hs_codes: tuple[str, ...]
    value: Money


@attrs.frozen
class Parties:
    """Who sent the parcel to whom, from where to where (free text each)."""

    sender: str = ""
    recipient: str = ""
    origin: str = ""
    destination: str = ""


@attrs.frozen
class Flags:
    """What the rules noticed: no scan for longer than the service's norm (delayed),
    no movement for a week (lost candidate: request a trace), a scan back at a place
    the parcel had left (misrouted)."""

    delayed: bool = False
    lost_candidate: bool = False
    misrouted: bool = False


@attrs.frozen
class ShipmentSummary:
    """A shipment as a summary lists it (the dashboard): no parties, scans or proof."""

    id: int
    number: str
    reference: str
    status: ShipmentStatus


@attrs.define
class Shipment:
    id: int
    number: str
    number_format: str
    carrier: str
    service: str
    customer_number: str
    parties: Parties
    mailed_on: date | None
    reference: str
    customs: Customs | None
    status: ShipmentStatus
    flags: Flags
    created_at: datetime
    status_changed_at: datetime
    last_scan_at: datetime | None = None
    checked_at: datetime | None = None
    next_check_at: datetime | None = None
    last_error: str = ""
    proof: DeliveryProof | None = None
    auto_trace: bool = False
    trace_reference: str = ""

    @property
    def final(self) -> bool:
        return self.status in FINAL


@attrs.frozen
class Merge:
    """A carrier's answer folded into a shipment: the scans it did not have yet, the
    shipment after them, and its status before."""

    new_scans: tuple[ScanEvent, ...]
    shipment: Shipment
    old_status: ShipmentStatus

    @property
    def status_changed(self) -> bool:
        return self.shipment.status != self.old_status


def scan_key(scan: ScanEvent) -> tuple[datetime, str, str]:
    """What makes a scan the same scan when a carrier reports it again."""
    return (scan.occurred_at, scan.code, scan.location)


def journey(scans: Iterable[ScanEvent]) -> list[ScanEvent]:
    """Scans in the order they happened."""
    return sorted(scans, key=lambda scan: (scan.occurred_at, scan.code))


def went_back(scans: Sequence[ScanEvent]) -> bool:
    """A scan at a place the parcel had already left for another one (A, B, A): a
    misroute or a parcel sent back through the network."""
    left: set[str] = set()
    current = ""
    for scan in journey(scans):
        place = scan.location.strip().upper()
        if not place or place == current:
            continue
        if place in left:
            return True
        if current:
            left.add(current)
        current = place
    return False


def merge_scans(
    shipment: Shipment,
    known: Sequence[ScanEvent],
    reported: Sequence[ScanEvent],
    *,
    proof: DeliveryProof | None,
    now: datetime,
) -> Merge:
    """Fold the carrier's ``reported`` scans into ``shipment`` whose scans are ``known``."""
    seen = {scan_key(scan) for scan in known}
    new: dict[tuple[datetime, str, str], ScanEvent] = {}
    for scan in reported:
        key = scan_key(scan)
        if key not in seen:
            new.setdefault(key, scan)
    new_scans = tuple(journey(new.values()))
    everything = journey([*known, *new_scans])
    status = shipment.status
    last_scan_at = shipment.last_scan_at
    if everything:
        latest = everything[-1]
        last_scan_at = latest.occurred_at
        if new_scans or status in (ShipmentStatus.PENDING,):
            status = latest.status
    flags = shipment.flags
    if new_scans:
        # movement clears the stuck-parcel flags; the rules set them again if due
        flags = Flags(misrouted=went_back(everything))
    updated = attrs.evolve(
        shipment,
        status=status,
        flags=flags,
        last_scan_at=last_scan_at,
        checked_at=now,
        last_error="",
        proof=proof or shipment.proof,
        status_changed_at=now if status != shipment.status else shipment.status_changed_at,
    )
    updated.next_check_at = next_check(updated, now)
    return Merge(new_scans, updated, shipment.status)


def norm_for(service: str) -> timedelta:
    """The longest normal wait between two scans for ``service``."""
    words = service.lower()
    for word, norm in SERVICE_NORMS:
        if word in words:
            return norm
    return DEFAULT_NORM


@attrs.frozen
class Assessment:
    status: ShipmentStatus
    flags: Flags

    @property
    def suggest_trace(self) -> bool:
        return self.flags.lost_candidate or self.status == ShipmentStatus.LOST


def assess(shipment: Shipment, now: datetime) -> Assessment:
    """Where the rules put ``shipment`` at ``now``: expired after 30 days without any
    scan; for a moving parcel, delayed past its service's norm without a scan, a lost
    candidate after 7 days and lost after 10."""
    status, flags = shipment.status, shipment.flags
    if shipment.final:
        return Assessment(status, flags)
    if shipment.last_scan_at is None:
        if now - shipment.created_at >= EXPIRE_AFTER:
            return Assessment(ShipmentStatus.EXPIRED, flags)
        return Assessment(status, flags)
    if status not in MOVING and status != ShipmentStatus.LOST:
        return Assessment(status, flags)
    quiet = now - shipment.last_scan_at
    if quiet >= LOST_AFTER:
        status = ShipmentStatus.LOST
    flags = attrs.evolve(
        flags,
        delayed=status in MOVING and quiet > norm_for(shipment.service),
        lost_candidate=quiet >= LOST_CANDIDATE_AFTER,
    )
    return Assessment(status, flags)


def next_check(shipment: Shipment, now: datetime) -> datetime | None:
    every = CHECK_EVERY[shipment.status]
    return None if every is None else now + every


def parse_status(value: str) -> ShipmentStatus:
    try:
        return ShipmentStatus(value)
    except ValueError:
        known = ", ".join(s.value for s in ShipmentStatus)
        raise ValidationError(
            f"no status {value!r} (known: {known})", code="invalid_status"
        ) from None


def parse_text(value: str, what: str, *, limit: int = MAX_TEXT) -> str:
    """A free-text field of a shipment: one clean line of at most ``limit`` characters."""
    if not isinstance(value, str):
        raise ValidationError(f"{what} is text", code=f"invalid_{what}")
    cleaned = check_no_control(value.strip(), what)
    if len(cleaned) > limit:
        raise ValidationError(f"{what} is at most {limit} characters", code=f"invalid_{what}")
    return cleaned


def parse_hs_code(value: str) -> str:
    """A Harmonized System code: 6 to 10 digits (dots and spaces dropped)."""
    digits = value.replace(".", "").replace(" ", "")
    if not (digits.isascii() and digits.isdigit()) or not 6 <= len(digits) <= 10:
        raise ValidationError(
            f"{value!r} is not an HS code (6 to 10 digits)", code="invalid_hs_code"
        )
    return digits


class SupportRequestKind(StrEnum):
    """What a customer asks support about a shipment."""

    TRACE = "trace"
    LOST = "lost"
    REROUTE = "reroute"
    REDELIVERY = "redelivery"


@attrs.frozen
class TraceRequest:
    """A stuck parcel handed to support: a trace, a lost-parcel report (which becomes
    a claim), or a reroute or redelivery request. ``requested_by`` is the person or
    ``rules`` when the worker opened it for an account that asked for automatic traces."""

    shipment: Shipment
    kind: SupportRequestKind
    note: str
    requested_by: str
    requested_at: datetime


def delivered_on_time(shipment: Shipment) -> bool | None:
    """Whether a delivered parcel arrived within its service's norm of days after it
    was mailed (unknown without a mailing date or a delivery time)."""
    if shipment.mailed_on is None or shipment.last_scan_at is None:
        return None
    arrived = shipment.proof.delivered_at if shipment.proof else shipment.last_scan_at
    return (arrived.date() - shipment.mailed_on).days <= delivery_days(shipment.service)


#: Days from mailing to delivery a service promises, by service family.
DELIVERY_DAYS: tuple[tuple[str, int], ...] = (
    ("express", 1),
    ("overnight", 1),
    ("priority", 3),
    ("first", 5),
    ("ground", 5),
    ("economy", 8),
    ("international", 10),
)
DEFAULT_DELIVERY_DAYS = 5


def delivery_days(service: str) -> int:
    words = service.lower()
    return next((days for word, days in DELIVERY_DAYS if word in words), DEFAULT_DELIVERY_DAYS)


def support_allowed(shipment: Shipment, kind: SupportRequestKind) -> bool:
    """A delivered parcel can only be reported lost (the customer did not get it); a
    returned or expired one can only be traced or reported lost."""
    if shipment.status == ShipmentStatus.DELIVERED:
        return kind == SupportRequestKind.LOST
    if shipment.status in (ShipmentStatus.RETURNED_TO_SENDER, ShipmentStatus.EXPIRED):
        return kind in (SupportRequestKind.TRACE, SupportRequestKind.LOST)
    return True


@attrs.frozen
class Subscription:
    """A webhook alert: the account's shipment's status changes (every shipment of the
    account when ``shipment_id`` is None) POSTed to ``url``, signed with ``secret``;
    only the changes to one of ``events`` (the new statuses), or every change when
    ``events`` is empty."""

    id: int
    customer_number: str
    shipment_id: int | None
    url: str
    secret: str = attrs.field(repr=False)
    created_at: datetime
    events: frozenset[ShipmentStatus] = frozenset()

    def wants(self, shipment: Shipment) -> bool:
        return self.shipment_id in (None, shipment.id) and (
            not self.events or shipment.status in self.events
        )


#: The most subscriptions one account keeps (each change is one delivery per match).
MAX_SUBSCRIPTIONS = 20


def parse_events(values: object) -> frozenset[ShipmentStatus]:
    """The statuses a subscription is told of: a list of status names, none for all."""
    if values is None:
        return frozenset()
    if isinstance(values, str) or not isinstance(values, (list, tuple, set, frozenset)):
        raise ValidationError("events is a list of statuses", code="invalid_events")
    if len(values) > len(ShipmentStatus):
        raise ValidationError("events lists each status at most once", code="invalid_events")
    chosen = set()
    for value in values:
        if not isinstance(value, str):
            raise ValidationError("events is a list of statuses", code="invalid_events")
        chosen.add(parse_status(value))
    return frozenset(chosen)


@attrs.define
class WebhookDelivery:
    """One webhook body on its way: ``pending`` (tried again at ``next_attempt_at``),
    ``delivered`` or ``failed``; ``last_result`` the receiver's status or the error."""

    id: int
    subscription_id: int
    body: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_result: str
    created_at: datetime
    delivered_at: datetime | None = None
