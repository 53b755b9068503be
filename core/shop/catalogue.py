"""The demo's supplies catalogue (``serve --demo``): an ink cartridge for each meter
model the data center ships (``meters.model.PRODUCTS``), labels, sealing solution,
envelopes and office supplies, priced in US dollars, euros and Canadian dollars."""

from __future__ import annotations

from collections.abc import Mapping

from postroom.core.money import Money
from postroom.core.shop.model import Item, make_item


def _prices(usd: str, eur: str, cad: str) -> dict[str, int]:
    return {
        currency: Money.of(text, currency).mills
        for currency, text in (("USD", usd), ("EUR", eur), ("CAD", cad))
    }


def demo_items(products: Mapping[str, str]) -> list[Item]:
    """The catalogue for meters of ``products`` (product code -> device model)."""
    items = []
    for code, device in sorted(products.items()):
        suffix = code.removeprefix("PR-")
        items += [
            make_item(
                f"INK-{suffix}",
                "ink",
                {"en": f"Ink cartridge for {device}", "fr": f"Cartouche d'encre pour {device}"},
                {
                    "en": f"Genuine fluorescent red ink for the {code}: about 6,000 imprints.",
                    "fr": f"Encre rouge fluorescente d'origine pour la {code} : environ "
                    "6 000 empreintes.",
                },
                _prices("49.99", "45.90", "64.99"),
                40,
                (code,),
            ),
            make_item(
                f"INK-{suffix}-XL",
                "ink",
                {
                    "en": f"High-capacity ink cartridge for {device}",
                    "fr": f"Cartouche d'encre grande capacité pour {device}",
                },
                {
                    "en": f"Fluorescent red ink for the {code}: about 15,000 imprints.",
                    "fr": f"Encre rouge fluorescente pour la {code} : environ 15 000 empreintes.",
                },
                _prices("109.00", "99.00", "139.00"),
                15,
                (code,),
            ),
        ]
    return [
        *items,
        make_item(
            "LBL-TAPE-300",
            "labels",
            {"en": "Postage tape sheets (300)", "fr": "Étiquettes d'affranchissement (300)"},
            {
                "en": "Self-adhesive double labels for parcels too thick for the meter.",
                "fr": "Étiquettes doubles autocollantes pour les colis trop épais.",
            },
            _prices("24.50", "22.00", "31.50"),
            120,
        ),
        make_item(
            "SEAL-1L",
            "sealing",
            {"en": "Sealing solution, 1 litre", "fr": "Solution de cachetage, 1 litre"},
            {
                "en": "Moistens envelope flaps in the sealer; prevents scale build-up.",
                "fr": "Humidifie les rabats dans la cacheteuse ; évite le calcaire.",
            },
            _prices("12.90", "11.50", "16.90"),
            60,
        ),
        make_item(
            "ENV-DL-500",
            "envelopes",
            {"en": "DL window envelopes (500)", "fr": "Enveloppes DL à fenêtre (500)"},
            {
                "en": "80 g/m² white envelopes, window on the left, self-seal.",
                "fr": "Enveloppes blanches 80 g/m², fenêtre à gauche, autocollantes.",
            },
            _prices("39.00", "35.00", "49.00"),
            80,
        ),
        make_item(
            "OFF-OPENER",
            "office",
            {"en": "Letter opener", "fr": "Coupe-papier"},
            {
                "en": "Stainless steel letter opener for the mailroom desk.",
                "fr": "Coupe-papier en inox pour le bureau du courrier.",
            },
            _prices("6.50", "5.90", "8.50"),
            200,
        ),
    ]
