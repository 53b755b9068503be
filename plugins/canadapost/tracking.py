"""Canada Post tracking through its web service (Tracking, ``track-v2`` XML).

``GET {base}/vis/track/pin/{pin}/detail`` with HTTP Basic (the API key's user name and
password) and ``Accept: application/vnd.cpc.track-v2+xml`` answers a
``tracking-detail`` document: ``service-name``, ``significant-events/occurrence``
each with ``event-identifier``, ``event-date``, ``event-time``, ``event-time-zone``
(``EDT``, ``PST``...), ``event-description``, ``event-site``, ``event-province`` and,
on delivery, ``signatory-name``. An unknown number answers 404 with a ``messages``
document (code 004, "No Pin History").

Only S10 numbers ending in CA are routed here by default (``number_carriers``); a
document with a DOCTYPE is refused before parsing, so no entity is ever expanded.
The event identifiers and the statuses they map to: ``STATUS_BY_EVENT``; other events
are ``in_transit``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # DOCTYPEs are refused before parsing (_root)
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import attrs

from postroom.core.ports import (
    DeliveryProof,
    ParcelTracking,
    ScanEvent,
    ShipmentStatus,
    TrackingFailure,
)
from postroom.plugins.carrier_http import CarrierError, CarrierHttp, basic_auth, ensure_ok

S = ShipmentStatus
NAMESPACE = "{http://www.canadapost.ca/ws/track-v2}"
STATUS_BY_EVENT: Mapping[str, ShipmentStatus] = {
    "3000": S.INFO_RECEIVED,  # electronic information submitted by shipper
    "0100": S.IN_TRANSIT,  # item processed
    "0170": S.IN_TRANSIT,  # item processed at postal facility
    "2300": S.IN_TRANSIT,  # item accepted at the post office
    "0174": S.OUT_FOR_DELIVERY,  # item out for delivery
    "0500": S.OUT_FOR_DELIVERY,  # out for delivery
    "1496": S.DELIVERED,  # item successfully delivered
    "1497": S.DELIVERED,  # delivered to safe place
    "1498": S.DELIVERED,  # delivered to community mailbox
    "1441": S.DELIVERED,  # signature of recipient
    "1409": S.DELIVERED,  # delivered to post office box
    "1701": S.AVAILABLE_FOR_PICKUP,  # available for pickup at post office
    "0410": S.AVAILABLE_FOR_PICKUP,  # notice card left, item at post office
    "1421": S.DELIVERY_ATTEMPTED,  # attempted delivery
    "1422": S.DELIVERY_ATTEMPTED,  # attempted, customer not home
    "1434": S.EXCEPTION,  # incorrect address
    "1415": S.EXCEPTION,  # held: customs
    "1479": S.RETURNED_TO_SENDER,  # return to sender
    "1480": S.RETURNED_TO_SENDER,  # item returned to sender
}
#: Canada's time zones as the service names them.
ZONES: Mapping[str, timedelta] = {
    "NST": timedelta(hours=-3, minutes=-30),
    "NDT": timedelta(hours=-2, minutes=-30),
    "AST": timedelta(hours=-4),
    "ADT": timedelta(hours=-3),
    "EST": timedelta(hours=-5),
    "EDT": timedelta(hours=-4),
    "CST": timedelta(hours=-6),
    "CDT": timedelta(hours=-5),
    "MST": timedelta(hours=-7),
    "MDT": timedelta(hours=-6),
    "PST": timedelta(hours=-8),
    "PDT": timedelta(hours=-7),
    "GMT": timedelta(0),
    "UTC": timedelta(0),
}


@attrs.define
class CanadaPostTracking:
    """``ports.Carrier`` for Canada Post."""

    http: CarrierHttp
    username: str = attrs.field(repr=False)
    password: str = attrs.field(repr=False)
    code: str = "canadapost"
    name: str = "Canada Post"
    number_carriers: tuple[str, ...] = ("upu:CA",)
    sandbox: bool = False

    def track(
        self, numbers: Sequence[str], *, now: datetime
    ) -> Mapping[str, ParcelTracking | TrackingFailure]:
        return {number: self._one(number) for number in numbers}

    def _one(self, number: str) -> ParcelTracking | TrackingFailure:
        try:
            answer = self.http.request(
                "GET",
                f"/vis/track/pin/{quote(number, safe='')}/detail",
                headers={
                    "Authorization": basic_auth(self.username, self.password),
                    "Accept": "application/vnd.cpc.track-v2+xml",
                    "Accept-language": "en-CA",
                },
            )
            return parse_detail(number, ensure_ok(answer, what="Canada Post").body)
        except CarrierError as error:
            return TrackingFailure(number, error.code, error.message)


def _root(body: bytes) -> ET.Element:
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise CarrierError("carrier_bad_answer", "the answer declares a DOCTYPE")
    try:
        return ET.fromstring(body)  # noqa: S314 - no DOCTYPE, so no entity to expand
    except ET.ParseError as error:
        raise CarrierError("carrier_bad_answer", "the answer is no XML") from error


def _text(element: ET.Element, name: str) -> str:
    found = element.find(NAMESPACE + name)
    if found is None:
        found = element.find(name)
    return (found.text or "").strip() if found is not None else ""


def parse_detail(number: str, body: bytes) -> ParcelTracking:
    root = _root(body)
    if root.tag.replace(NAMESPACE, "") != "tracking-detail":
        raise CarrierError("carrier_bad_answer", "the answer is no tracking-detail")
    occurrences = root.iter(NAMESPACE + "occurrence")
    events = []
    proof = None
    for occurrence in occurrences:
        event = _event(occurrence)
        events.append(event)
        signer = _text(occurrence, "signatory-name")
        if event.status is S.DELIVERED and (
            proof is None or event.occurred_at > proof.delivered_at
        ):
            reference = "canadapost-signature" if signer else ""
            proof = DeliveryProof(event.occurred_at, signer, reference)
    return ParcelTracking(number, tuple(events), proof, _text(root, "service-name"))


def _event(occurrence: ET.Element) -> ScanEvent:
    zone = ZONES.get(_text(occurrence, "event-time-zone").upper(), timedelta(0))
    try:
        local = datetime.fromisoformat(
            f"{_text(occurrence, 'event-date')}T{_text(occurrence, 'event-time')}"
        )
    except ValueError as error:
        raise CarrierError("carrier_bad_answer", "an event has no readable time") from error
    identifier = _text(occurrence, "event-identifier")
    place = " ".join(
        p for p in (_text(occurrence, "event-site"), _text(occurrence, "event-province")) if p
    )
    return ScanEvent(
        local.replace(tzinfo=timezone(zone)),
        identifier[:40],
        _text(occurrence, "event-description")[:300],
        place[:200],
        STATUS_BY_EVENT.get(identifier, S.IN_TRANSIT),
    )
