"""UPS tracking through the UPS Track API (OAuth 2 client credentials).

``POST {base}/security/v1/oauth/token`` (HTTP Basic with the client id and secret,
``grant_type=client_credentials``) answers a bearer token; ``GET
{base}/api/track/v1/details/{number}?locale=en_US&returnSignature=true`` with the
``transId`` and ``transactionSrc`` headers answers ``trackResponse.shipment[].package[]``,
each package with ``activity[]``: ``status.type`` (below), ``status.code`` and
``description``, ``date`` (YYYYMMDD) and ``time`` (HHMMSS) local to the scan with
``gmtOffset`` (``-05:00``), ``location.address``; ``deliveryInformation.receivedBy``
and ``signature`` on delivery. A number UPS does not know comes back with
``warnings[]`` and no package.

``status.type`` and the statuses it maps to (``STATUS_BY_TYPE``); an ``X`` whose
description says it is returning to the shipper is ``returned_to_sender``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
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
from postroom.plugins.carrier_http import (
    CarrierError,
    CarrierHttp,
    OAuthToken,
    basic_auth,
    ensure_ok,
)

S = ShipmentStatus
STATUS_BY_TYPE: Mapping[str, ShipmentStatus] = {
    "M": S.INFO_RECEIVED,  # manifest: billing information received
    "MV": S.EXPIRED,  # billing information voided
    "P": S.IN_TRANSIT,  # pickup
    "I": S.IN_TRANSIT,  # in transit
    "O": S.OUT_FOR_DELIVERY,
    "D": S.DELIVERED,
    "X": S.EXCEPTION,
    "RS": S.RETURNED_TO_SENDER,  # returned to shipper
    "DO": S.DELIVERED,  # delivered to the origin CFS (freight)
    "DD": S.DELIVERED,  # delivered to the destination CFS (freight)
    "W": S.IN_TRANSIT,  # warehousing
    "NA": S.EXCEPTION,  # not available
}
#: Status codes that mean a failed delivery attempt or a UPS Access Point pickup.
ATTEMPT_CODES = frozenset({"48", "49", "KE"})
PICKUP_CODES = frozenset({"ZP", "2Q", "ZR"})


@attrs.define
class UpsTracking:
    """``ports.Carrier`` for UPS."""

    http: CarrierHttp
    client_id: str = attrs.field(repr=False)
    client_secret: str = attrs.field(repr=False)
    code: str = "ups"
    name: str = "UPS"
    number_carriers: tuple[str, ...] = ("ups",)
    sandbox: bool = False
    _token: OAuthToken | None = attrs.field(default=None, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._token = OAuthToken(self._fetch_token)

    def _fetch_token(self) -> Mapping[str, Any]:
        answer = self.http.request(
            "POST",
            "/security/v1/oauth/token",
            headers={
                "Authorization": basic_auth(self.client_id, self.client_secret),
                "Content-Type": "application/x-www-form-urlencoded",
            },
            body=b"grant_type=client_credentials",
        )
        data = ensure_ok(answer, what="UPS").json()
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
                    f"/api/track/v1/details/{quote(number, safe='')}",
                    query={"locale": "en_US", "returnSignature": "true"},
                    headers={
                        "Authorization": self._token.header(now),
                        "transId": uuid.uuid4().hex,
                        "transactionSrc": "postroom",
                        "Accept": "application/json",
                    },
                )
                if answer.status == 401 and attempt == 0:
                    self._token.forget()
                    continue
                break
            return parse_track_response(number, ensure_ok(answer, what="UPS").json())
        except CarrierError as error:
            return TrackingFailure(number, error.code, error.message)


def parse_track_response(number: str, data: Any) -> ParcelTracking:
    try:
        shipments = data["trackResponse"]["shipment"]
        packages = [p for s in shipments for p in s.get("package") or []]
    except (KeyError, TypeError, AttributeError) as error:
        raise CarrierError("carrier_bad_answer", "no trackResponse in the answer") from error
    package = next((p for p in packages if p.get("trackingNumber") == number), None)
    if package is None:
        package = packages[0] if packages else None
    if package is None:
        raise CarrierError("not_found", "UPS does not know this number")
    events = []
    for raw in package.get("activity") or []:
        if not isinstance(raw, dict):
            raise CarrierError("carrier_bad_answer", "an activity is no object")
        status = raw.get("status") or {}
        events.append(
            ScanEvent(
                occurred_at=_moment(raw),
                code=str(status.get("code") or status.get("type") or "")[:40],
                description=str(status.get("description") or "")[:300],
                location=_place(raw),
                status=_status(status),
            )
        )
    proof = None
    delivered = [e for e in events if e.status is S.DELIVERED]
    info = package.get("deliveryInformation") or {}
    if delivered:
        signature = (info.get("signature") or {}).get("image")
        photo = (info.get("deliveryPhoto") or {}).get("photo")
        reference = "ups-signature" if signature else "ups-photo" if photo else ""
        proof = DeliveryProof(
            max(e.occurred_at for e in delivered), str(info.get("receivedBy") or ""), reference
        )
    service = str((package.get("service") or {}).get("description") or "")
    return ParcelTracking(number, tuple(events), proof, service)


def _status(status: Mapping[str, Any]) -> ShipmentStatus:
    kind = str(status.get("type") or "")
    code = str(status.get("code") or "")
    description = str(status.get("description") or "").lower()
    if code in ATTEMPT_CODES:
        return S.DELIVERY_ATTEMPTED
    if code in PICKUP_CODES:
        return S.AVAILABLE_FOR_PICKUP
    if kind == "X" and "return" in description:
        return S.RETURNED_TO_SENDER
    return STATUS_BY_TYPE.get(kind, S.IN_TRANSIT)


def _moment(raw: Mapping[str, Any]) -> datetime:
    try:
        local = datetime.strptime(f"{raw['date']}{raw['time']}", "%Y%m%d%H%M%S")
    except (KeyError, TypeError, ValueError) as error:
        raise CarrierError("carrier_bad_answer", "an activity has no readable time") from error
    offset = str(raw.get("gmtOffset") or "+00:00")
    sign = -1 if offset.startswith("-") else 1
    hours, _, minutes = offset.lstrip("+-").partition(":")
    try:
        zone = timezone(sign * timedelta(hours=int(hours), minutes=int(minutes or 0)))
    except ValueError as error:
        raise CarrierError("carrier_bad_answer", "an activity has no readable offset") from error
    return local.replace(tzinfo=zone)


def _place(raw: Mapping[str, Any]) -> str:
    address = ((raw.get("location") or {}).get("address")) or {}
    parts = [address.get("city"), address.get("stateProvince"), address.get("countryCode")]
    return " ".join(str(p) for p in parts if p)[:200]
