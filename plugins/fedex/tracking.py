"""FedEx tracking through the FedEx Track API (OAuth 2 client credentials).

``POST {base}/oauth/token`` (a form: ``grant_type=client_credentials``, ``client_id``,
``client_secret``) answers a bearer token; ``POST {base}/track/v1/trackingnumbers``
with ``{"includeDetailedScans": true, "trackingInfo": [{"trackingNumberInfo":
{"trackingNumber": ...}}, ...]}`` (up to 30 numbers) answers
``output.completeTrackResults[]``, one per number, each with ``trackResults[]``: the
scans in ``scanEvents[]`` (``date`` with its offset, ``eventType``,
``eventDescription``, ``exceptionCode``, ``scanLocation``), ``deliveryDetails``
(``receivedByName``), ``availableImages`` (a signature proof), ``serviceDetail``, or
an ``error`` (``TRACKING.TRACKINGNUMBER.NOTFOUND``) for a number FedEx does not know.
A refused token is ``errors[]`` with a 401.

``eventType`` and the statuses it maps to (``STATUS_BY_EVENT``); a ``DE`` (delivery
exception) is an attempt, other exceptions ``exception``.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

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
#: FedEx takes at most this many numbers a request.
BATCH = 30
#: Scans of a parcel on its way: picked up, arrived, departed, at an airport or a sort
#: facility, in customs, clearance done, in flight, transferred...
MOVING = (  # noqa: SIM905 - two-letter codes read best as one line
    "PU PX AR AF DP IT LO AA AC AX AD AP CC CP CU CH EO ED EP FD OF OX PF PM SF TR DS BR RR SP"
).split()
STATUS_BY_EVENT: Mapping[str, ShipmentStatus] = {
    "OC": S.INFO_RECEIVED,  # shipment information sent to FedEx (label created)
    "IN": S.INFO_RECEIVED,  # initiated
    "CA": S.EXPIRED,  # shipment cancelled
    **{code: S.IN_TRANSIT for code in MOVING},
    "OD": S.OUT_FOR_DELIVERY,  # on FedEx vehicle for delivery
    "DL": S.DELIVERED,
    "DE": S.DELIVERY_ATTEMPTED,  # delivery exception: the courier could not deliver
    "SE": S.EXCEPTION,  # shipment exception
    "CD": S.EXCEPTION,  # clearance delay
    "DD": S.EXCEPTION,  # delivery delay
    "DY": S.EXCEPTION,  # delay
    "PD": S.EXCEPTION,  # pickup delay
    "EA": S.EXCEPTION,  # enroute to airport delay
    "HL": S.AVAILABLE_FOR_PICKUP,  # hold at location
    "HP": S.AVAILABLE_FOR_PICKUP,  # ready for recipient pickup
    "RS": S.RETURNED_TO_SENDER,  # return to shipper
    "RD": S.RETURNED_TO_SENDER,  # return delivered to shipper
}
NOT_FOUND = "TRACKING.TRACKINGNUMBER.NOTFOUND"


@attrs.define
class FedexTracking:
    """``ports.Carrier`` for FedEx."""

    http: CarrierHttp
    client_id: str = attrs.field(repr=False)
    client_secret: str = attrs.field(repr=False)
    code: str = "fedex"
    name: str = "FedEx"
    number_carriers: tuple[str, ...] = ("fedex",)
    sandbox: bool = False
    _token: OAuthToken | None = attrs.field(default=None, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._token = OAuthToken(self._fetch_token)

    def _fetch_token(self) -> Mapping[str, Any]:
        form = urllib.parse.urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
            }
        ).encode()
        answer = self.http.request(
            "POST",
            "/oauth/token",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=form,
        )
        data = ensure_ok(answer, what="FedEx").json()
        if not isinstance(data, dict):
            raise CarrierError("carrier_bad_answer", "the token answer is no object")
        return data

    def track(
        self, numbers: Sequence[str], *, now: datetime
    ) -> Mapping[str, ParcelTracking | TrackingFailure]:
        answers: dict[str, ParcelTracking | TrackingFailure] = {}
        for start in range(0, len(numbers), BATCH):
            answers.update(self._batch(numbers[start : start + BATCH], now))
        return answers

    def _batch(
        self, numbers: Sequence[str], now: datetime
    ) -> Mapping[str, ParcelTracking | TrackingFailure]:
        assert self._token is not None
        body = json.dumps(
            {
                "includeDetailedScans": True,
                "trackingInfo": [{"trackingNumberInfo": {"trackingNumber": n}} for n in numbers],
            }
        ).encode()
        try:
            for attempt in range(2):
                answer = self.http.request(
                    "POST",
                    "/track/v1/trackingnumbers",
                    headers={
                        "Authorization": self._token.header(now),
                        "Content-Type": "application/json",
                        "X-locale": "en_US",
                    },
                    body=body,
                )
                if answer.status == 401 and attempt == 0:
                    self._token.forget()  # expired early: one new token, once
                    continue
                break
            results = _results(ensure_ok(answer, what="FedEx").json())
        except CarrierError as error:
            return {n: TrackingFailure(n, error.code, error.message) for n in numbers}
        answers: dict[str, ParcelTracking | TrackingFailure] = {}
        for number in numbers:
            try:
                answers[number] = parse_track_result(number, results.get(number))
            except CarrierError as error:
                answers[number] = TrackingFailure(number, error.code, error.message)
        return answers


def _results(data: Any) -> dict[str, Any]:
    """Each number's first track result, from ``output.completeTrackResults``."""
    try:
        complete = data["output"]["completeTrackResults"]
        return {
            str(entry["trackingNumber"]): (entry.get("trackResults") or [None])[0]
            for entry in complete
        }
    except (KeyError, TypeError, AttributeError) as error:
        raise CarrierError("carrier_bad_answer", "no completeTrackResults in the answer") from error


def parse_track_result(number: str, result: Any) -> ParcelTracking:
    if not isinstance(result, dict):
        raise CarrierError("not_found", "FedEx does not know this number")
    error = result.get("error")
    if isinstance(error, dict):
        if error.get("code") == NOT_FOUND:
            raise CarrierError("not_found", "FedEx does not know this number")
        raise CarrierError("carrier_bad_answer", f"FedEx answered {str(error.get('code'))[:60]}")
    events = []
    for raw in result.get("scanEvents") or []:
        if not isinstance(raw, dict):
            raise CarrierError("carrier_bad_answer", "a scan event is no object")
        code = str(raw.get("eventType") or "")[:40]
        events.append(
            ScanEvent(
                occurred_at=_moment(raw.get("date")),
                code=code,
                description=str(raw.get("eventDescription") or "")[:300],
                location=_place(raw.get("scanLocation")),
                status=STATUS_BY_EVENT.get(code, S.IN_TRANSIT),
            )
        )
    proof = None
    delivered = [e for e in events if e.status is S.DELIVERED]
    if delivered:
        details = result.get("deliveryDetails") or {}
        images = {str(i.get("type")) for i in result.get("availableImages") or [] if i}
        proof = DeliveryProof(
            max(e.occurred_at for e in delivered),
            str(details.get("receivedByName") or details.get("signedByName") or "")[:200],
            "fedex-signature" if "SIGNATURE_PROOF_OF_DELIVERY" in images else "",
        )
    service = str((result.get("serviceDetail") or {}).get("description") or "")[:200]
    return ParcelTracking(number, tuple(events), proof, service)


def _moment(text: object) -> datetime:
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError as error:
        raise CarrierError("carrier_bad_answer", "a scan has no readable time") from error
    if moment.tzinfo is None:
        raise CarrierError("carrier_bad_answer", "a scan's time has no offset")
    return moment


def _place(location: object) -> str:
    if not isinstance(location, dict):
        return ""
    parts = [location.get("city"), location.get("stateOrProvinceCode"), location.get("countryCode")]
    return " ".join(str(p) for p in parts if p)[:200]
