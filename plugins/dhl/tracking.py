"""DHL Express tracking through DHL's Shipment Tracking - Unified API (an API key).

``GET {base}/track/shipments?trackingNumber={n}&service=express&language=en`` with the
``DHL-API-Key`` header answers ``shipments[]``: each with ``events[]`` (``timestamp``,
``statusCode``, ``status``, ``description``, ``location.address.addressLocality``),
``service``, ``details.product.productName`` and, once delivered,
``details.proofOfDelivery`` (``timestamp``, ``signed.name``, ``signatureUrl``). A number
DHL does not know is a 404 problem document (``"title": "No result found"``); a bad key
a 401; too many calls a 429 (the API's daily and per-second quotas).

``statusCode`` gives the coarse status (``STATUS_BY_CODE``); the description then tells
the finer ones DHL Express words but does not code (``FINER``): out for delivery, an
attempt, waiting at a service point, returned. A ``timestamp`` without an offset
(some Express scans) is taken as UTC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs

from postroom.core.ports import (
    DeliveryProof,
    ParcelTracking,
    ScanEvent,
    ShipmentStatus,
    TrackingFailure,
)
from postroom.plugins.carrier_http import CarrierError, CarrierHttp, ensure_ok

S = ShipmentStatus
STATUS_BY_CODE: Mapping[str, ShipmentStatus] = {
    "pre-transit": S.INFO_RECEIVED,
    "transit": S.IN_TRANSIT,
    "delivered": S.DELIVERED,
    "failure": S.EXCEPTION,
    "unknown": S.IN_TRANSIT,
}
#: Words of a transit or failure scan's description and the finer status they mean.
FINER: tuple[tuple[str, ShipmentStatus], ...] = (
    ("returned to shipper", S.RETURNED_TO_SENDER),
    ("return to shipper", S.RETURNED_TO_SENDER),
    ("with courier for delivery", S.OUT_FOR_DELIVERY),
    ("with delivery courier", S.OUT_FOR_DELIVERY),
    ("out for delivery", S.OUT_FOR_DELIVERY),
    ("delivery attempted", S.DELIVERY_ATTEMPTED),
    ("recipient not available", S.DELIVERY_ATTEMPTED),
    ("closed on arrival", S.DELIVERY_ATTEMPTED),
    ("awaiting collection", S.AVAILABLE_FOR_PICKUP),
    ("service point", S.AVAILABLE_FOR_PICKUP),
)


@attrs.define
class DhlTracking:
    """``ports.Carrier`` for DHL Express."""

    http: CarrierHttp
    api_key: str = attrs.field(repr=False)
    code: str = "dhl"
    name: str = "DHL Express"
    number_carriers: tuple[str, ...] = ("dhl",)
    sandbox: bool = False

    def track(
        self, numbers: Sequence[str], *, now: datetime
    ) -> Mapping[str, ParcelTracking | TrackingFailure]:
        return {number: self._one(number) for number in numbers}

    def _one(self, number: str) -> ParcelTracking | TrackingFailure:
        try:
            answer = self.http.request(
                "GET",
                "/track/shipments",
                query={"trackingNumber": number, "service": "express", "language": "en"},
                headers={"DHL-API-Key": self.api_key, "Accept": "application/json"},
            )
            return parse_shipments(number, ensure_ok(answer, what="DHL").json())
        except CarrierError as error:
            return TrackingFailure(number, error.code, error.message)


def parse_shipments(number: str, data: Any) -> ParcelTracking:
    try:
        shipments = [s for s in data["shipments"] if isinstance(s, dict)]
    except (KeyError, TypeError) as error:
        raise CarrierError("carrier_bad_answer", "no shipments in the answer") from error
    shipment = next((s for s in shipments if str(s.get("id")) == number), None)
    if shipment is None:
        raise CarrierError("not_found", "DHL does not know this number")
    events = []
    for raw in shipment.get("events") or []:
        if not isinstance(raw, dict):
            raise CarrierError("carrier_bad_answer", "an event is no object")
        code = str(raw.get("statusCode") or "")
        events.append(
            ScanEvent(
                occurred_at=_moment(raw.get("timestamp")),
                code=code[:40],
                description=str(raw.get("description") or raw.get("status") or "")[:300],
                location=_place(raw.get("location")),
                status=_status(code, str(raw.get("description") or raw.get("status") or "")),
            )
        )
    details = shipment.get("details") or {}
    proof = None
    delivered = [e for e in events if e.status is S.DELIVERED]
    if delivered:
        pod = details.get("proofOfDelivery") or {}
        signed = pod.get("signed") or {}
        proof = DeliveryProof(
            _moment(pod["timestamp"]) if pod.get("timestamp") else delivered[0].occurred_at,
            str(signed.get("name") or "")[:200],
            "dhl-signature" if pod.get("signatureUrl") else "",
        )
    service = str((details.get("product") or {}).get("productName") or "")[:200]
    return ParcelTracking(number, tuple(events), proof, service)


def _status(code: str, description: str) -> ShipmentStatus:
    coarse = STATUS_BY_CODE.get(code, S.IN_TRANSIT)
    if coarse in (S.IN_TRANSIT, S.EXCEPTION):
        words = description.lower()
        return next((status for phrase, status in FINER if phrase in words), coarse)
    return coarse


def _moment(text: object) -> datetime:
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError as error:
        raise CarrierError("carrier_bad_answer", "an event has no readable time") from error
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _place(location: object) -> str:
    if not isinstance(location, dict):
        return ""
    address = location.get("address") or {}
    return str(address.get("addressLocality") or "")[:200] if isinstance(address, dict) else ""
