"""Kiosk keys and a terminal's offers as the API and ``postroom kiosk keys ... --json``
write them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from postroom.core.kiosks.meter_pieces import LoggedMeterPiece
from postroom.core.kiosks.model import IssuedKioskKey, KioskKey
from postroom.core.kiosks.service import Offers
from postroom.core.rates.model import ExtraService, Quote
from postroom.core.rates.service import RatesService
from postroom.frontends.serialise import money, utc
from postroom.frontends.serialise.rates import quote_json


def kiosk_key_json(key: KioskKey) -> dict[str, Any]:
    """A key as it may be shown: its prefix, never its secret."""
    return {
        "prefix": key.prefix,
        "customer_number": key.customer_number,
        "label": key.label,
        "created_at": utc(key.created_at),
        "revoked_at": utc(key.revoked_at),
        "last_contact_at": utc(key.last_contact_at),
    }


def issued_kiosk_key_json(issued: IssuedKioskKey) -> dict[str, Any]:
    """A fresh key with its token: shown this once."""
    return {**kiosk_key_json(issued.key), "token": issued.token}


def offers_json(
    offers: Offers, extras: Callable[[Quote], Sequence[ExtraService]] = lambda quote: ()
) -> dict[str, Any]:
    """The offers; ``extras(quote)``: the extras the quote's service sells, listed with
    each option when they have a fixed price (one priced by declared value needs it)."""
    return {
        "currency": offers.currency,
        "options": [
            {
                **quote_json(option),
                "extras_offered": [
                    {"code": extra.code, "name": extra.name, "price": money(extra.price)}
                    for extra in extras(option)
                    if extra.price is not None
                ],
            }
            for option in offers.options
        ],
    }


def meter_piece_json(piece: LoggedMeterPiece) -> dict[str, Any]:
    return {
        "serial": piece.serial,
        "piece": piece.piece,
        "postage": money(piece.postage),
        "carrier": piece.carrier,
        "service": piece.service,
        "cost_center": piece.cost_center,
        "operator": {"id": piece.operator_id, "name": piece.operator_name},
        "printed_at": utc(piece.printed_at),
        "misprint_at": None if piece.misprint_at is None else utc(piece.misprint_at),
        "refund_id": piece.refund_id,
    }


def table_extras(rates: RatesService, quote: Quote) -> tuple[ExtraService, ...]:
    """The extras of the table that priced ``quote`` (the quote names the table only)."""
    table = rates.in_force(quote.table.carrier, quote.table.service, on=quote.table.effective_from)
    return table.extras if table.digest == quote.table.digest else ()
