"""The sandbox carrier: deterministic, realistic journeys for the demo and the tests.

Any valid tracking number gets a journey chosen by its digest: most parcels are
delivered in two or three days, some are delayed, stopped by an exception (a bad
address, customs), misrouted through a hub they had left, returned to sender, or lost
(scans stop). International numbers (UPU S10) wait in customs on the way.

A journey starts at an instant derived from the number and a 28-day cycle
(``CYCLE``), so every process (web, worker) tells the same story of a number at the
same moment; only the scans that happened by ``now`` are answered. The sandbox's
event codes and what they map to:

| code | meaning | status |
|---|---|---|
| ``IR`` | label created, shipment information received | info_received |
| ``PU`` | picked up | in_transit |
| ``AR`` | arrived at a facility | in_transit |
| ``DP`` | departed a facility | in_transit |
| ``CH`` | held in customs | exception |
| ``CR`` | released by customs | in_transit |
| ``WX`` | delayed (weather, volume) | in_transit |
| ``AD`` | address problem | exception |
| ``OD`` | out for delivery | out_for_delivery |
| ``NA`` | delivery attempted, nobody there | delivery_attempted |
| ``PK`` | available for pickup | available_for_pickup |
| ``RS`` | returned to sender | returned_to_sender |
| ``DL`` | delivered | delivered |
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import attrs

from postroom.core.config import Config
from postroom.core.hookspecs import hookimpl
from postroom.core.ports import (
    Carrier,
    DeliveryProof,
    ParcelTracking,
    ScanEvent,
    ShipmentStatus,
    TrackingFailure,
)
from postroom.core.tracking.numbers import identify

S = ShipmentStatus
STATUS_BY_CODE: Mapping[str, ShipmentStatus] = {
    "IR": S.INFO_RECEIVED,
    "PU": S.IN_TRANSIT,
    "AR": S.IN_TRANSIT,
    "DP": S.IN_TRANSIT,
    "CH": S.EXCEPTION,
    "CR": S.IN_TRANSIT,
    "WX": S.IN_TRANSIT,
    "AD": S.EXCEPTION,
    "OD": S.OUT_FOR_DELIVERY,
    "NA": S.DELIVERY_ATTEMPTED,
    "PK": S.AVAILABLE_FOR_PICKUP,
    "RS": S.RETURNED_TO_SENDER,
    "DL": S.DELIVERED,
}
DESCRIPTIONS: Mapping[str, str] = {
    "IR": "Shipping label created, information received",
    "PU": "Picked up",
    "AR": "Arrived at facility",
    "DP": "Departed facility",
    "CH": "Held in customs",
    "CR": "Released by customs",
    "WX": "Delayed: weather or volume",
    "AD": "Address information needed",
    "OD": "Out for delivery",
    "NA": "Delivery attempted: nobody available",
    "PK": "Available for pickup",
    "RS": "Returned to sender",
    "DL": "Delivered",
}

#: Journeys restart every CYCLE from an instant fixed by the number (see the module doc).
CYCLE = timedelta(days=28)
EPOCH = datetime(2026, 1, 5, tzinfo=UTC)

_PLACES = {
    "US": [
        ("CHICAGO IL US", "America/Chicago"),
        ("INDIANAPOLIS IN US", "America/Indiana/Indianapolis"),
        ("MEMPHIS TN US", "America/Chicago"),
        ("DENVER CO US", "America/Denver"),
        ("BOSTON MA US", "America/New_York"),
    ],
    "CA": [
        ("TORONTO ON CA", "America/Toronto"),
        ("MONTREAL QC CA", "America/Toronto"),
        ("WINNIPEG MB CA", "America/Winnipeg"),
        ("VANCOUVER BC CA", "America/Vancouver"),
        ("OTTAWA ON CA", "America/Toronto"),
    ],
    "FR": [
        ("ROISSY CDG FR", "Europe/Paris"),
        ("CHILLY MAZARIN FR", "Europe/Paris"),
        ("LYON FR", "Europe/Paris"),
        ("BORDEAUX FR", "Europe/Paris"),
        ("PARIS 02 FR", "Europe/Paris"),
    ],
}
_SIGNERS = ("A SMITH", "J MARTIN", "FRONT DESK", "M TREMBLAY", "L DUBOIS", "MAILROOM")

#: Journey kinds and their weights out of 100.
SCENARIOS = (
    ("delivered", 50),
    ("delayed", 10),
    ("exception", 10),
    ("misrouted", 8),
    ("pickup", 7),
    ("returned", 5),
    ("lost", 10),
)


def _digest(number: str) -> bytes:
    return hashlib.sha256(number.encode()).digest()


def scenario(number: str) -> str:
    """The kind of journey ``number`` gets."""
    roll = _digest(number)[0] * 100 // 256
    for name, weight in SCENARIOS:
        if roll < weight:
            return name
        roll -= weight
    return "delivered"


def journey_start(number: str, now: datetime) -> datetime:
    """When the number's current journey began: an hour of the cycle fixed by the number."""
    phase = timedelta(hours=int.from_bytes(_digest(number)[1:3], "big") % (28 * 24))
    cycles = (now - EPOCH - phase) // CYCLE
    return EPOCH + phase + cycles * CYCLE


def _region(number: str) -> str:
    found = identify(number)
    if found.carrier == "upu" and found.number[-2:] in _PLACES:
        return found.number[-2:]
    return "US"


def _steps(kind: str, international: bool) -> list[tuple[float, str, int]]:
    """(hours after the start, code, place index) of a journey of ``kind``."""
    head = [(0.0, "IR", 0), (5.0, "PU", 0), (9.0, "AR", 1), (14.0, "DP", 1)]
    if international:
        head += [(26.0, "CH", 2), (50.0, "CR", 2)]
    offset = 36.0 if international else 0.0
    tail = {
        "delivered": [(30, "AR", 3), (40, "OD", 4), (46, "DL", 4)],
        "delayed": [(30, "AR", 3), (34, "WX", 3), (100, "DP", 3), (112, "OD", 4), (118, "DL", 4)],
        "exception": [(30, "AR", 3), (40, "AD", 3), (64, "OD", 4), (70, "DL", 4)],
        "misrouted": [
            (24, "AR", 2),
            (30, "DP", 2),
            (40, "AR", 1),
            (52, "AR", 3),
            (70, "OD", 4),
            (76, "DL", 4),
        ],
        "pickup": [(30, "AR", 3), (40, "OD", 4), (45, "NA", 4), (50, "PK", 4), (96, "DL", 4)],
        "returned": [(30, "AR", 3), (40, "OD", 4), (45, "NA", 4), (64, "NA", 4), (88, "RS", 4)],
        "lost": [(26, "AR", 2)],
    }[kind]
    return head + [(hours + offset, code, place) for hours, code, place in tail]


@attrs.frozen
class SandboxCarrier:
    """``ports.Carrier`` with invented journeys; answers ``not_found`` for numbers that
    are not valid tracking numbers."""

    code: str = "sandbox"
    name: str = "Sandbox carrier"
    number_carriers: tuple[str, ...] = ("usps", "ups", "fedex", "dhl", "upu")
    sandbox: bool = True

    def track(
        self, numbers: Sequence[str], *, now: datetime
    ) -> Mapping[str, ParcelTracking | TrackingFailure]:
        return {number: self._one(number, now) for number in numbers}

    def _one(self, number: str, now: datetime) -> ParcelTracking | TrackingFailure:
        found = identify(number)
        if not found.valid:
            return TrackingFailure(number, "not_found", "not a tracking number")
        kind = scenario(found.number)
        start = journey_start(found.number, now)
        places = _PLACES[_region(found.number)]
        events: list[ScanEvent] = []
        for hours, code, index in _steps(kind, found.carrier == "upu"):
            moment = start + timedelta(hours=hours)
            if moment > now:
                break
            place, zone = places[index]
            events.append(
                ScanEvent(
                    moment.astimezone(ZoneInfo(zone)),
                    code,
                    DESCRIPTIONS[code],
                    place,
                    STATUS_BY_CODE[code],
                )
            )
        proof = None
        if events and events[-1].code == "DL":
            signer = _SIGNERS[_digest(found.number)[3] % len(_SIGNERS)]
            proof = DeliveryProof(events[-1].occurred_at, signer, f"sandbox-sig-{found.number}")
        return ParcelTracking(found.number, tuple(events), proof, service="Sandbox Ground")


@hookimpl
def register_carriers(config: Config) -> list[Carrier]:
    return [SandboxCarrier()]
