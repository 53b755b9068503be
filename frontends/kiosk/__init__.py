"""Kiosk pages: touch-first screens for mailroom terminals, on the same core as the portal.

``/kiosk/price`` prices a piece with large touch targets and no script at all: the service
is chosen with big buttons, the weight typed on the device's numeric keyboard or on an
on-screen keypad (each key is a form button the server answers, so it works without
JavaScript), the unit with a toggle, extras with big check buttons. The price is
itemized; the language can be switched with one touch. Every form carries its CSRF token.
The rules are the portal's (``frontends.web.rates_pages``): this module only lays them out.
"""

from __future__ import annotations

from flask import Blueprint, request

from postroom.core.clock import today
from postroom.core.rates.model import Quote
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.rates_pages import (
    ExtraChoice,
    PriceForm,
    ServiceChoice,
    quote_form,
    render_price_page,
    service_choices,
)

bp = Blueprint(
    "kiosk",
    __name__,
    url_prefix="/kiosk",
    template_folder="templates",
    static_folder="static",
)

#: The on-screen keypad, row by row; "back" removes the last character, "clear" empties.
KEYPAD = (("7", "8", "9"), ("4", "5", "6"), ("1", "2", "3"), (".", "0", "back"))
#: The longest weight the keypad builds (the form refuses anything longer anyway).
MAX_WEIGHT_TEXT = 12


def _press(weight: str, key: str) -> str:
    """The weight text after one keypad key."""
    if key == "clear":
        return ""
    if key == "back":
        return weight[:-1]
    if key == "." and ("." in weight or "," in weight):
        return weight
    if key in "0123456789." and len(key) == 1 and len(weight) < MAX_WEIGHT_TEXT:
        return weight + key
    return weight


def _render(
    form: PriceForm,
    services: list[ServiceChoice],
    extras: list[ExtraChoice],
    result: Quote | None = None,
    status: int = 200,
) -> tuple[str, int]:
    return render_price_page(
        "kiosk/price.html", form, services, extras, result, status, keypad=KEYPAD
    )


@bp.get("/price")
def price() -> tuple[str, int]:
    services, extras = service_choices()
    form = PriceForm(
        service=services[0].value if services else "",
        date=today(current_postroom().clock).isoformat(),
    )
    return _render(form, services, extras)


@bp.post("/price")
def price_piece() -> tuple[str, int]:
    services, extras = service_choices()
    form = PriceForm.from_request(request.form, request.form.getlist("extras"))
    # a kiosk prices for today, by the installation's clock
    form.date = today(current_postroom().clock).isoformat()
    key = request.form.get("key")
    if isinstance(key, str) and key:
        form.weight = _press(form.weight, key[:8])
        return _render(form, services, extras)
    quoted = quote_form(form, services)
    if quoted is None:
        return _render(form, services, extras, status=422)
    return _render(form, services, extras, quoted[0])


__all__ = ["bp"]
