"""Which department a case goes to when the customer did not choose: pure rules on the
linked object, the words of the subject and description, and the channel."""

from __future__ import annotations

import re

from postroom.core.cases.model import Channel, Department, Link, LinkKind

#: a linked object says what the case is about
LINK_DEPARTMENTS = {
    LinkKind.METER: Department.EQUIPMENT,
    LinkKind.INVOICE: Department.BILLING,
    LinkKind.ORDER: Department.SHIPPING,
    LinkKind.SHIPMENT: Department.TRACKING,
}

#: words (English and French) that name a department; the first department with a
#: match wins, in this order
KEYWORDS: tuple[tuple[Department, tuple[str, ...]], ...] = (
    (
        Department.TRACKING,
        ("tracking", "trace", "lost", "parcel", "package", "claim", "colis", "perdu", "suivi"),
    ),
    (
        Department.BILLING,
        (
            "invoice",
            "bill",
            "billing",
            "refund",
            "payment",
            "charge",
            "credit",
            "facture",
            "paiement",
            "remboursement",
        ),
    ),
    (
        Department.EQUIPMENT,
        (
            "meter",
            "printer",
            "scale",
            "ink",
            "jam",
            "machine",
            "inspection",
            "compteur",
            "imprimante",
            "balance",
        ),
    ),
    (
        Department.SHIPPING,
        ("order", "shipping", "label", "shop", "delivery", "commande", "livraison", "etiquette"),
    ),
    (
        Department.SOFTWARE,
        ("login", "password", "sign in", "portal", "software", "api", "website", "mot de passe"),
    ),
)


def department_for(
    subject: str, description: str, channel: Channel, links: tuple[Link, ...]
) -> Department:
    """The department a case goes to by the rules: a linked object first, then
    keywords, then the channel (a social-media message is usually about the portal);
    otherwise software and online services, the general desk."""
    for link in links:
        if link.kind in LINK_DEPARTMENTS:
            return LINK_DEPARTMENTS[link.kind]
    text = f"{subject} {description}".lower()
    words = set(re.findall(r"[a-zà-ÿ]+", text))
    for department, keywords in KEYWORDS:
        for keyword in keywords:
            if (" " in keyword and keyword in text) or keyword in words:
                return department
    if channel is Channel.MAIL:
        return Department.BILLING  # letters are mostly cheques and invoices
    return Department.SOFTWARE
