"""USPS tracking through the USPS APIs (Tracking 3.x, OAuth 2 client credentials).

``POST {base}/oauth2/v3/token`` with the client id and secret answers a bearer token;
``GET {base}/tracking/v3/tracking/{number}?expand=DETAIL`` answers one number's
``TrackingDetails``: ``trackingEvents`` (newest first) each with ``eventCode`` (USPS
Publication 199, Appendix G-4), ``eventType``, ``GMTTimestamp`` and ``GMTOffset``,
``eventCity``/``eventState``/``eventZIP``/``eventCountry`` and, on delivery, ``name``
and ``firm`` of who signed. Errors answer ``{"error": {"code", "message"}}``.

The event codes and the statuses they map to (``STATUS_BY_CODE``); any other code
falls back on the event's ``statusCategory`` words, then ``in_transit``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import attrs

from postroom.core.ports import (
    DeliveryProof,
    ParcelTracking,
    ScanEvent,
    ShipmentStatus,
    TrackingFailure,
)
from postroom.plugins.carrier_http import CarrierError, CarrierHttp, OAuthToken, ensure_ok

S = ShipmentStatus
STATUS_BY_CODE: Mapping[str, ShipmentStatus] = {
    "MA": S.INFO_RECEIVED,  # manifest acknowledged: label created, not yet in hand
    "GX": S.INFO_RECEIVED,  # shipping label created
    "03": S.IN_TRANSIT,  # accepted at the post office
    "OA": S.IN_TRANSIT,  # accepted (origin acceptance)
    "PC": S.IN_TRANSIT,  # sorting complete
    "07": S.IN_TRANSIT,  # arrival at unit
    "10": S.IN_TRANSIT,  # processed through facility
    "OF": S.OUT_FOR_DELIVERY,
    "01": S.DELIVERED,
    "17": S.DELIVERED,  # picked up by agent
    "43": S.DELIVERED,  # picked up at the post office
    "02": S.DELIVERY_ATTEMPTED,  # notice left
    "51": S.DELIVERY_ATTEMPTED,  # business closed
    "52": S.DELIVERY_ATTEMPTED,  # receptacle full
    "53": S.DELIVERY_ATTEMPTED,  # receptacle blocked
    "54": S.DELIVERY_ATTEMPTED,  # no access
    "55": S.DELIVERY_ATTEMPTED,  # animal interference
    "56": S.DELIVERY_ATTEMPTED,  # no secure location
    "57": S.DELIVERY_ATTEMPTED,  # no authorized recipient
    "16": S.AVAILABLE_FOR_PICKUP,
    "04": S.EXCEPTION,  # refused
    "05": S.EXCEPTION,  # undeliverable as addressed
    "08": S.EXCEPTION,  # missent
    "21": S.EXCEPTION,  # no such number
    "22": S.EXCEPTION,  # insufficient address
    "23": S.EXCEPTION,  # moved, left no address
    "25": S.EXCEPTION,  # addressee unknown
    "09": S.RETURNED_TO_SENDER,
    "29": S.RETURNED_TO_SENDER,  # returned, not picked up
}
#: The words of ``statusCategory`` for codes not in the table.
STATUS_BY_CATEGORY: Mapping[str, ShipmentStatus] = {
    "pre-shipment": S.INFO_RECEIVED,
    "accepted": S.IN_TRANSIT,
    "in transit": S.IN_TRANSIT,
    "out for delivery": S.OUT_FOR_DELIVERY,
    "delivered": S.DELIVERED,
    "delivery attempt": S.DELIVERY_ATTEMPTED,
    "available for pickup": S.AVAILABLE_FOR_PICKUP,
    "alert": S.EXCEPTION,
    "return to sender": S.RETURNED_TO_SENDER,
}


@attrs.define
class UspsTracking:
    """``ports.Carrier`` for USPS."""

    http: CarrierHttp
    client_id: str = attrs.field(repr=False)
    client_secret: str = attrs.field(repr=False)
    code: str = "usps"
    name: str = "USPS"
    number_carriers: tuple[str, ...] = ("usps", "upu:US")
    sandbox: bool = False
    _token: OAuthToken | None = attrs.field(default=None, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._token = OAuthToken(self._fetch_token)

    def _fetch_token(self) -> Mapping[str, Any]:
        body = json.dumps(
            {
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "scope": "tracking",
            }
        ).encode()
        answer = self.http.request(
            "POST", "/oauth2/v3/token", headers={"Content-Type": "application/json"}, body=body
        )
        data = ensure_ok(answer, what="USPS").json()
        if not isinstance(data, dict):
            raise CarrierError("carrier_bad_answer", "the token answer is no object")
        return data

    def track(
        self, numbers: Sequence[str], *, now: datetime
    ) -> Mapping[str, ParcelTracking | TrackingFailure]:
        return {number: self._one(number, now) for number in numbers}

    def _one(self, number: str, now: datetime) -> ParcelTracking | TrackingFailure:
        assert self._token is not None
        try:
            for attempt in range(2):
                answer = self.http.request(
                    "GET",
                    f"/tracking/v3/tracking/{quote(number, safe='')}",
                    query={"expand": "DETAIL"},
                    headers={
                        "Authorization": self._token.header(now),
                        "Accept": "application/json",
                    },
                )
                if answer.status == 401 and attempt == 0:
                    self._token.forget()  # expired early: one new token, once
                    continue
                break
            return parse_details(number, ensure_ok(answer, what="USPS").json())
        except CarrierError as error:
            return TrackingFailure(number, error.code, error.message)


def parse_details(number: str, data: Any) -> ParcelTracking:
    """A ``TrackingDetails`` document as postroom's tracking of ``number``."""
    if not isinstance(data, dict) or not isinstance(data.get("trackingEvents", []), list):
        raise CarrierError("carrier_bad_answer", "the carrier's answer has no events")
    events = []
    proof = None
    for raw in data.get("trackingEvents", []):
        if not isinstance(raw, dict):
            raise CarrierError("carrier_bad_answer", "an event is no object")
        status = _status(raw)
        event = ScanEvent(
            occurred_at=_moment(raw),
            code=str(raw.get("eventCode") or raw.get("eventType") or "")[:40],
            description=str(raw.get("eventType") or "")[:300],
            location=_place(raw),
            status=status,
        )
        events.append(event)
        if status is S.DELIVERED and proof is None:
            signer = " ".join(str(raw.get(k) or "") for k in ("name", "firm")).strip()
            proof = DeliveryProof(event.occurred_at, signer)
    return ParcelTracking(number, tuple(events), proof, str(data.get("mailClass") or ""))


def _status(raw: Mapping[str, Any]) -> ShipmentStatus:
    code = str(raw.get("eventCode") or "")
    if code in STATUS_BY_CODE:
        return STATUS_BY_CODE[code]
    words = str(raw.get("statusCategory") or raw.get("eventType") or "").lower()
    return next((s for k, s in STATUS_BY_CATEGORY.items() if k in words), S.IN_TRANSIT)


def _moment(raw: Mapping[str, Any]) -> datetime:
    """The event's time in its own offset: ``GMTTimestamp`` moved by ``GMTOffset``
    (``-7:00``); else ``eventTimestamp``, taken as UTC when it has no offset."""
    text = raw.get("GMTTimestamp") or raw.get("eventTimestamp")
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError as error:
        raise CarrierError("carrier_bad_answer", "an event has no readable time") from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    offset = str(raw.get("GMTOffset") or "")
    if raw.get("GMTTimestamp") and offset:
        sign = -1 if offset.startswith("-") else 1
        hours, _, minutes = offset.lstrip("+-").partition(":")
        try:
            delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
        except ValueError:
            return moment
        moment = moment.astimezone(timezone(sign * delta))
    return moment


def _place(raw: Mapping[str, Any]) -> str:
    parts = [
        raw.get("eventCity"),
        raw.get("eventState"),
        raw.get("eventZIP"),
        raw.get("eventCountry"),
    ]
    return " ".join(str(p) for p in parts if p)[:200]
