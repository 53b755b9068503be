"""La Poste tracking through the Suivi API (Okapi, ``X-Okapi-Key``).

``GET {base}/suivi/v2/idships/{id,id,...}?lang=en_GB`` takes up to 10 numbers at once
(one number answers one object, several an array); each answer has a ``returnCode``:
200 with ``shipment.event[]`` (``code``, ``label``, ``date`` in ISO 8601 with its
offset), ``shipment.isFinal`` and ``shipment.product``, or 104/400/404 with
``returnMessage`` for a number it does not know.

The event codes and the statuses they map to (``STATUS_BY_CODE``), by La Poste's own
groups: DR (declared), PC (taken in charge), ET (in processing), EP (awaiting
presentation), DO (customs), PB (problem), MD (out for delivery), AG (at the counter),
ND (not deliverable), RE (returned), DI (delivered).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
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
from postroom.plugins.carrier_http import CarrierError, CarrierHttp, ensure_ok

S = ShipmentStatus
STATUS_BY_CODE: Mapping[str, ShipmentStatus] = {
    "DR1": S.INFO_RECEIVED,  # déclaratif réceptionné
    "PC1": S.IN_TRANSIT,  # pris en charge
    "PC2": S.IN_TRANSIT,  # pris en charge dans le pays d'expédition
    "ET1": S.IN_TRANSIT,  # en cours de traitement
    "ET2": S.IN_TRANSIT,  # ... dans le pays d'expédition
    "ET3": S.IN_TRANSIT,  # ... dans le pays de destination
    "ET4": S.IN_TRANSIT,  # ... dans un pays de transit
    "EP1": S.IN_TRANSIT,  # en attente de présentation
    "DO1": S.IN_TRANSIT,  # entrée en douane
    "DO2": S.IN_TRANSIT,  # sortie de douane
    "DO3": S.EXCEPTION,  # retenu en douane
    "PB1": S.EXCEPTION,  # problème en cours
    "PB2": S.IN_TRANSIT,  # problème résolu
    "MD2": S.OUT_FOR_DELIVERY,  # mis en distribution
    "ND1": S.DELIVERY_ATTEMPTED,  # non distribuable
    "AG1": S.AVAILABLE_FOR_PICKUP,  # en attente d'être retiré au guichet
    "RE1": S.RETURNED_TO_SENDER,  # retourné à l'expéditeur
    "DI1": S.DELIVERED,  # distribué
    "DI2": S.RETURNED_TO_SENDER,  # distribué à l'expéditeur
}
BATCH = 10


@attrs.define
class LaPosteTracking:
    """``ports.Carrier`` for La Poste (Colissimo, Chronopost and letters with tracking)."""

    http: CarrierHttp
    api_key: str = attrs.field(repr=False)
    code: str = "laposte"
    name: str = "La Poste"
    number_carriers: tuple[str, ...] = ("upu:FR",)
    sandbox: bool = False

    def track(
        self, numbers: Sequence[str], *, now: datetime
    ) -> Mapping[str, ParcelTracking | TrackingFailure]:
        answers: dict[str, ParcelTracking | TrackingFailure] = {}
        for start in range(0, len(numbers), BATCH):
            answers.update(self._batch(list(numbers[start : start + BATCH])))
        return answers

    def _batch(self, numbers: list[str]) -> dict[str, ParcelTracking | TrackingFailure]:
        try:
            answer = self.http.request(
                "GET",
                "/suivi/v2/idships/" + ",".join(quote(n, safe="") for n in numbers),
                query={"lang": "en_GB"},
                headers={"X-Okapi-Key": self.api_key, "Accept": "application/json"},
            )
            if answer.status in (401, 403):
                ensure_ok(answer, what="La Poste")
            data = answer.json()
        except CarrierError as error:
            return {n: TrackingFailure(n, error.code, error.message) for n in numbers}
        items = data if isinstance(data, list) else [data]
        found: dict[str, ParcelTracking | TrackingFailure] = {}
        for item in items:
            number, result = parse_item(item)
            if number in numbers:
                found[number] = result
        for number in numbers:
            found.setdefault(
                number, TrackingFailure(number, "carrier_bad_answer", "La Poste left it out")
            )
        return found


def parse_item(item: Any) -> tuple[str, ParcelTracking | TrackingFailure]:
    """One number's answer: its number and its tracking or failure."""
    if not isinstance(item, dict):
        return "", TrackingFailure("", "carrier_bad_answer", "an answer is no object")
    shipment = item.get("shipment")
    number = str(item.get("idShip") or (shipment or {}).get("idShip") or "")
    if item.get("returnCode") != 200 or not isinstance(shipment, dict):
        code = "not_found" if item.get("returnCode") in (104, 400, 404) else "carrier_bad_answer"
        return number, TrackingFailure(number, code, str(item.get("returnMessage") or "")[:200])
    try:
        events = tuple(_event(raw) for raw in shipment.get("event") or [])
    except CarrierError as error:
        return number, TrackingFailure(number, error.code, error.message)
    delivered = [e for e in events if e.status is S.DELIVERED]
    proof = DeliveryProof(max(e.occurred_at for e in delivered), "") if delivered else None
    return number, ParcelTracking(number, events, proof, str(shipment.get("product") or ""))


def _event(raw: Any) -> ScanEvent:
    if not isinstance(raw, dict):
        raise CarrierError("carrier_bad_answer", "an event is no object")
    try:
        moment = datetime.fromisoformat(str(raw.get("date")).replace("Z", "+00:00"))
    except ValueError as error:
        raise CarrierError("carrier_bad_answer", "an event has no readable time") from error
    if moment.tzinfo is None:
        raise CarrierError("carrier_bad_answer", "an event's time has no offset")
    code = str(raw.get("code") or "")
    return ScanEvent(
        moment,
        code[:40],
        str(raw.get("label") or "")[:300],
        "",
        STATUS_BY_CODE.get(code, S.IN_TRANSIT),
    )
