"""What each normalized status means, in plain words, in English and French: the answer
to "what does this status mean?" on the shipment page, the API and the CLI."""

from __future__ import annotations

import attrs

from postroom.core.ports import ShipmentStatus


@attrs.frozen
class Explanation:
    title: str
    meaning: str
    what_next: str


_EN: dict[ShipmentStatus, Explanation] = {
    ShipmentStatus.PENDING: Explanation(
        "Pending",
        "We have the tracking number but the carrier has not told us anything about it yet.",
        "Carriers often need a few hours after a label is printed; we keep asking.",
    ),
    ShipmentStatus.INFO_RECEIVED: Explanation(
        "Label created",
        "The sender created the label and told the carrier, who has not got the parcel yet.",
        "The parcel moves once the carrier collects it or it is dropped off.",
    ),
    ShipmentStatus.IN_TRANSIT: Explanation(
        "In transit",
        "The carrier has the parcel and it is moving through its network.",
        "Nothing to do; delays of a day at a sorting centre are normal.",
    ),
    ShipmentStatus.OUT_FOR_DELIVERY: Explanation(
        "Out for delivery",
        "The parcel is in the delivery vehicle and should arrive today.",
        "Someone may need to be there to sign for it.",
    ),
    ShipmentStatus.DELIVERY_ATTEMPTED: Explanation(
        "Delivery attempted",
        "The carrier tried to deliver the parcel but could not (nobody there, no access).",
        "Look for a notice: the carrier tries again or keeps it for pickup.",
    ),
    ShipmentStatus.DELIVERED: Explanation(
        "Delivered",
        "The carrier delivered the parcel.",
        "If you cannot find it, check the proof of delivery, then report it.",
    ),
    ShipmentStatus.AVAILABLE_FOR_PICKUP: Explanation(
        "Ready for pickup",
        "The parcel waits at a post office, locker or pickup point.",
        "Collect it with the notice and an ID before it is sent back.",
    ),
    ShipmentStatus.EXCEPTION: Explanation(
        "Exception",
        "Something stopped the parcel: a damaged label, a wrong address, customs, weather.",
        "It often resolves itself; if not in two days, request a trace.",
    ),
    ShipmentStatus.RETURNED_TO_SENDER: Explanation(
        "Returned to sender",
        "The parcel could not be delivered and goes, or went, back to the sender.",
        "The sender may send it again or ask for a refund of the postage.",
    ),
    ShipmentStatus.LOST: Explanation(
        "Lost",
        "The parcel has not moved for ten days or more: it is probably lost.",
        "Request a trace; if the carrier cannot find it, file a claim.",
    ),
    ShipmentStatus.EXPIRED: Explanation(
        "Expired",
        "The carrier gave no information for 30 days; we stopped asking.",
        "Check the number; if it is right, contact support.",
    ),
}

_FR: dict[ShipmentStatus, Explanation] = {
    ShipmentStatus.PENDING: Explanation(
        "En attente",
        "Nous avons le numéro de suivi mais le transporteur ne nous a encore rien dit.",
        "Il faut souvent quelques heures après l'impression de l'étiquette ; "
        "nous continuons à demander.",
    ),
    ShipmentStatus.INFO_RECEIVED: Explanation(
        "Étiquette créée",
        "L'expéditeur a créé l'étiquette et prévenu le transporteur, qui n'a pas encore le colis.",
        "Le colis part dès que le transporteur le collecte ou qu'il est déposé.",
    ),
    ShipmentStatus.IN_TRANSIT: Explanation(
        "En transit",
        "Le transporteur a le colis, qui circule dans son réseau.",
        "Rien à faire ; un jour d'attente dans un centre de tri est normal.",
    ),
    ShipmentStatus.OUT_FOR_DELIVERY: Explanation(
        "En cours de livraison",
        "Le colis est dans le véhicule de livraison et devrait arriver aujourd'hui.",
        "Il faudra peut-être être présent pour signer.",
    ),
    ShipmentStatus.DELIVERY_ATTEMPTED: Explanation(
        "Tentative de livraison",
        "Le transporteur a essayé de livrer le colis sans y parvenir (personne, accès impossible).",
        "Cherchez l'avis de passage : il repasse ou garde le colis à retirer.",
    ),
    ShipmentStatus.DELIVERED: Explanation(
        "Livré",
        "Le transporteur a livré le colis.",
        "Si vous ne le trouvez pas, consultez la preuve de livraison, puis signalez-le.",
    ),
    ShipmentStatus.AVAILABLE_FOR_PICKUP: Explanation(
        "Disponible au retrait",
        "Le colis attend dans un bureau de poste, une consigne ou un point relais.",
        "Retirez-le avec l'avis et une pièce d'identité avant son renvoi.",
    ),
    ShipmentStatus.EXCEPTION: Explanation(
        "Incident",
        "Quelque chose a arrêté le colis : étiquette abîmée, adresse erronée, douane, météo.",
        "Cela se règle souvent seul ; sinon, demandez une enquête sous deux jours.",
    ),
    ShipmentStatus.RETURNED_TO_SENDER: Explanation(
        "Retourné à l'expéditeur",
        "Le colis n'a pas pu être livré et repart, ou est reparti, chez l'expéditeur.",
        "L'expéditeur peut le renvoyer ou demander le remboursement de l'affranchissement.",
    ),
    ShipmentStatus.LOST: Explanation(
        "Perdu",
        "Le colis n'a pas bougé depuis dix jours ou plus : il est probablement perdu.",
        "Demandez une enquête ; si le transporteur ne le retrouve pas, faites une réclamation.",
    ),
    ShipmentStatus.EXPIRED: Explanation(
        "Expiré",
        "Le transporteur n'a donné aucune information pendant 30 jours ; "
        "nous avons cessé de demander.",
        "Vérifiez le numéro ; s'il est juste, contactez le support.",
    ),
}

LANGUAGES = {"en": _EN, "fr": _FR}


def explain(status: ShipmentStatus, language: str = "en") -> Explanation:
    """What ``status`` means, in ``language`` (``en`` or ``fr``; English otherwise)."""
    return LANGUAGES.get(language, _EN)[status]
