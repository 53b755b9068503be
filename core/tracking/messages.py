"""The messages tracking sends a customer about a shipment, in English and French."""

from __future__ import annotations

import attrs

from postroom.core.ports import ShipmentStatus, Translation
from postroom.core.tracking.explanations import explain
from postroom.core.tracking.model import Shipment

#: The statuses a customer is told of when a shipment reaches them.
ALERTED = frozenset(
    {
        ShipmentStatus.DELIVERY_ATTEMPTED,
        ShipmentStatus.DELIVERED,
        ShipmentStatus.AVAILABLE_FOR_PICKUP,
        ShipmentStatus.EXCEPTION,
        ShipmentStatus.RETURNED_TO_SENDER,
        ShipmentStatus.LOST,
    }
)


@attrs.frozen
class Message:
    kind: str
    subject: str
    body: str
    translations: dict[str, Translation]


def _label(shipment: Shipment) -> str:
    return shipment.reference or shipment.number


def status_alert(shipment: Shipment) -> Message:
    """The shipment reached one of the ``ALERTED`` statuses."""
    en, fr = explain(shipment.status, "en"), explain(shipment.status, "fr")
    label = _label(shipment)
    body = (
        f"Shipment {shipment.number} ({shipment.carrier}): {en.title}.\n\n"
        f"{en.meaning}\n{en.what_next}\n"
    )
    body_fr = (
        f"Envoi {shipment.number} ({shipment.carrier}) : {fr.title}.\n\n"
        f"{fr.meaning}\n{fr.what_next}\n"
    )
    return Message(
        kind="tracking.status",
        subject=f"{label}: {en.title}",
        body=body,
        translations={"fr": Translation(f"{label} : {fr.title}", body_fr)},
    )


def stuck_alert(shipment: Shipment) -> Message:
    """The rules found the shipment without movement for a week: a trace is suggested."""
    label = _label(shipment)
    body = (
        f"Shipment {shipment.number} ({shipment.carrier}) has not moved for 7 days.\n\n"
        "You can request a trace from its page; if it cannot be found, report it lost "
        "and we file the claim.\n"
    )
    body_fr = (
        f"L'envoi {shipment.number} ({shipment.carrier}) n'a pas bougé depuis 7 jours.\n\n"
        "Vous pouvez demander une enquête depuis sa page ; s'il reste introuvable, "
        "déclarez-le perdu et nous faisons la réclamation.\n"
    )
    return Message(
        kind="tracking.stuck",
        subject=f"{label}: no movement for 7 days",
        body=body,
        translations={"fr": Translation(f"{label} : aucun mouvement depuis 7 jours", body_fr)},
    )
