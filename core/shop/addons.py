"""Meter add-ons and ad slogans: values and pure rules, no I/O.

An add-on is a feature of a meter bought once per meter (department accounting, a
higher weighing capacity, more ad slots): invoiced to the account, then switched on at
the meter's next sync (the meters area's features). An ad slogan is a graphic the meter
prints beside the indicium: one of the library's (ready to go) or the customer's upload,
which staff approve (or reject, saying why) before it goes to the meter.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import date, datetime
from enum import StrEnum

import attrs

from postroom.core.errors import ValidationError
from postroom.core.money import Money
from postroom.core.shop.graphics import GraphicType

_NUMBER = re.compile(r"(AO|AD)-[0-9]{4}-[0-9]{6}")


@attrs.frozen
class Addon:
    code: str
    #: the meter feature it switches on (meters.model.parse_features)
    feature: str
    names: Mapping[str, str]
    descriptions: Mapping[str, str]
    #: currency -> price in mills
    prices: Mapping[str, int]

    def name(self, language: str) -> str:
        return self.names.get(language) or self.names["en"]

    def description(self, language: str) -> str:
        return self.descriptions.get(language) or self.descriptions["en"]

    def price(self, currency: str) -> Money | None:
        mills = self.prices.get(currency)
        return None if mills is None else Money(mills, currency)


def _prices(usd: int, eur: int, cad: int) -> dict[str, int]:
    return {"USD": usd, "EUR": eur, "CAD": cad}


#: What the data center sells for its meters.
ADDONS: tuple[Addon, ...] = (
    Addon(
        "DEPT-ACCOUNTING",
        "department_accounting",
        {"en": "Department accounting", "fr": "Comptabilité par service"},
        {
            "en": "Book every imprint to one of up to 100 departments and print the totals.",
            "fr": "Imputez chaque empreinte à l'un de 100 services et imprimez les totaux.",
        },
        _prices(149_000, 139_000, 199_000),
    ),
    Addon(
        "WEIGH-30KG",
        "weighing_30kg",
        {"en": "Weighing up to 30 kg", "fr": "Pesée jusqu'à 30 kg"},
        {
            "en": "Raise the connected scale's capacity from 5 kg to 30 kg.",
            "fr": "Portez la capacité de la balance connectée de 5 kg à 30 kg.",
        },
        _prices(99_000, 92_000, 129_000),
    ),
    Addon(
        "AD-SLOTS-4",
        "ad_slots_4",
        {"en": "Four ad slogan slots", "fr": "Quatre emplacements de flamme"},
        {
            "en": "Keep four ad slogans on the meter and pick one per batch.",
            "fr": "Gardez quatre flammes publicitaires sur la machine et choisissez-en une "
            "par lot.",
        },
        _prices(59_000, 55_000, 79_000),
    ),
)


def addon(code: object) -> Addon:
    clean = code.strip().upper() if isinstance(code, str) else ""
    for known in ADDONS:
        if known.code == clean:
            return known
    raise ValidationError(f"no add-on {code!r}", code="unknown_addon")


class PurchaseStatus(StrEnum):
    #: invoiced, the feature not yet handed to the meters area
    INVOICED = "invoiced"
    #: waiting for the meter's next sync
    QUEUED = "queued"


@attrs.frozen
class AddonPurchase:
    number: str
    customer_number: str
    serial: str
    code: str
    price: Money
    invoice_number: str
    status: PurchaseStatus
    bought_at: datetime
    replayed: bool = attrs.field(default=False, eq=False)


# --------------------------------------------------------------- ad slogans


@attrs.frozen
class LibrarySlogan:
    code: str
    #: the text the meter prints, by language (the customer picks the language)
    texts: Mapping[str, str]


#: Ready-made slogans: no approval needed.
SLOGAN_LIBRARY: tuple[LibrarySlogan, ...] = (
    LibrarySlogan(
        "THANKS", {"en": "Thank you for your business", "fr": "Merci de votre confiance"}
    ),
    LibrarySlogan(
        "RECYCLE", {"en": "Please recycle this envelope", "fr": "Recyclez cette enveloppe"}
    ),
    LibrarySlogan("SEASON", {"en": "Season's greetings", "fr": "Meilleurs vœux"}),
)


def library_slogan(code: object, language: object) -> str:
    """The library slogan's text in ``language``."""
    clean = code.strip().upper() if isinstance(code, str) else ""
    for known in SLOGAN_LIBRARY:
        if known.code == clean:
            if language not in known.texts:
                raise ValidationError("choose English or French", code="invalid_language")
            return known.texts[str(language)]
    raise ValidationError(f"no slogan {code!r} in the library", code="unknown_slogan")


class SloganStatus(StrEnum):
    #: an upload waiting for staff
    PENDING = "pending"
    REJECTED = "rejected"
    #: approved (or from the library): waiting for the meter's next sync
    QUEUED = "queued"


class SloganKind(StrEnum):
    LIBRARY = "library"
    UPLOAD = "upload"


@attrs.frozen
class SloganOrder:
    number: str
    customer_number: str
    serial: str
    kind: SloganKind
    #: the library text, or the upload's file name
    label: str
    content_type: GraphicType | None
    status: SloganStatus
    created_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None
    reason: str = ""


def new_number(prefix: str, day: date) -> str:
    return f"{prefix}-{day.year:04d}-{secrets.randbelow(10**6):06d}"


def parse_number(text: object) -> str | None:
    clean = text.strip().upper() if isinstance(text, str) else ""
    return clean if _NUMBER.fullmatch(clean) else None


def parse_file_name(text: object) -> str:
    clean = " ".join(text.split()) if isinstance(text, str) else ""
    clean = "".join(c for c in clean if c.isprintable())[-120:]
    return clean or "upload"
