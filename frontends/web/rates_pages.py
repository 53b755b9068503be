"""``/rates/price``: price a piece, for the portal and for mailroom kiosks.

A server-rendered form (no script needed): carrier and service from the loaded tables,
weight and unit, mailing date (default today, from the injectable clock), extra services,
optional ZIP codes. The answer shows the itemized price, the total in the visitor's
locale, and the cheapest services for the same piece. Any bad input is a form error next
to its field, never a 500.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import attrs
from babel.numbers import format_decimal
from flask import Blueprint, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from wtforms import Field, Form, SelectMultipleField, StringField
from wtforms.validators import StopValidation

from postroom.core.clock import today
from postroom.core.errors import PostroomError
from postroom.core.money import Money
from postroom.core.rates.model import Piece, Quote
from postroom.core.rates.service import Comparison
from postroom.core.units import Weight
from postroom.frontends.web.context import current_postroom

bp = Blueprint("rates_pages", __name__, url_prefix="/rates")

UNITS = ("oz", "lb", "g", "kg")
LOCALES = {"en": "en_US", "fr": "fr_FR"}
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ZIP_RE = re.compile(r"[0-9]{5}(?:-?[0-9]{4})?")
# What the engine's line details hold: amounts ("0.74 USD") and weights ("1.2 oz").
_AMOUNT_RE = re.compile(r"(?<![\w.])(-?[0-9]+(?:\.[0-9]+)?) ([A-Z]{3})\b")
_QUANTITY_RE = re.compile(r"(?<![\w.])([0-9]+(?:\.[0-9]+)?)(?= (?:oz|lb|g|kg|in|cm|mm)\b)")

# Which form field an error code of the domain belongs to.
FIELD_OF_CODE = {
    "invalid_weight": "weight",
    "unknown_unit": "weight",
    "float_not_allowed": "weight",
    "over_limit": "weight",
    "invalid_date": "date",
    "no_rate_table": "date",
    "unknown_carrier": "service",
    "unknown_service": "service",
    "unknown_extra": "extras",
    "extra_requires": "extras",
    "invalid_zip": "zip",
    "zone_required": "zip",
    "zone_not_found": "zip",
    "unknown_zone": "zip",
}


@attrs.frozen
class ServiceChoice:
    value: str
    carrier: str
    name: str


@attrs.frozen
class ExtraChoice:
    code: str
    name: str


def error_messages() -> dict[str, str]:
    """The visitor's-language text of each error code (the domain's text is English)."""
    return {
        "invalid_weight": _("Enter a weight greater than zero, e.g. 1.2."),
        "unknown_unit": _("Choose a unit: oz, lb, g or kg."),
        "float_not_allowed": _("Enter a weight greater than zero, e.g. 1.2."),
        "over_limit": _("This piece is over a limit of the service."),
        "invalid_date": _("Enter a date as YYYY-MM-DD."),
        "no_rate_table": _("No price list of this service is in force on that date."),
        "unknown_carrier": _("Choose a service from the list."),
        "unknown_service": _("Choose a service from the list."),
        "unknown_extra": _("This service does not offer one of the extra services chosen."),
        "extra_requires": _("One of the extra services chosen needs another one (Certified Mail)."),
        "invalid_zip": _("Enter both ZIP codes, 5 digits each, or neither."),
        "zone_required": _("This service is priced by zone: enter both ZIP codes."),
        "zone_not_found": _("No zone is known between these ZIP codes."),
        "unknown_zone": _("No zone is known between these ZIP codes."),
    }


def money_locale() -> str:
    return LOCALES.get(str(get_locale()), "en_US")


def _lang() -> str:
    return str(get_locale())


def service_choices(currency: str | None = None) -> tuple[list[ServiceChoice], list[ExtraChoice]]:
    """Every carrier/service with a table, and every extra service they offer, named in
    the visitor's language when the rate file gives a translation. With ``currency`` (a
    kiosk's account's), only the services priced in it: the others cannot be printed."""
    rates = current_postroom().rates
    names, lang = rates.names(), _lang()
    latest: dict[tuple[str, str], Any] = {}
    for stored in rates.list_tables():  # oldest first: the last one wins
        latest[(stored.carrier, stored.service)] = stored
    loaded = {key: rates.get(found.digest) for key, found in sorted(latest.items())}
    if currency is not None:
        loaded = {key: t for key, t in loaded.items() if t.currency == currency}
    services = [
        ServiceChoice(
            f"{carrier}/{service}",
            carrier,
            names.name(lang, carrier, "services", service, latest[(carrier, service)].name),
        )
        for (carrier, service) in loaded
    ]
    extras: dict[str, str] = {}
    for (carrier, _service), rate_table in loaded.items():
        for extra in rate_table.extras:
            extras.setdefault(
                extra.code, names.name(lang, carrier, "extras", extra.code, extra.name)
            )
    return services, [ExtraChoice(code, name) for code, name in extras.items()]


def line_labels(result: Quote) -> list[str]:
    """Each line's description with the service or extra's name in the visitor's language
    (the engine writes the table's own names; the numbers after them stay as they are)."""
    rates = current_postroom().rates
    names, lang = rates.names(), _lang()
    table = rates.get(result.table.digest)
    own = {
        ("services", table.service): table.name,
        **{("extras", e.code): e.name for e in table.extras},
        **{("surcharges", s.code): s.name for s in table.surcharges},
    }
    kinds = {"base": "services", "extra": "extras", "surcharge": "surcharges"}
    labels = []
    for line in result.lines:
        kind = kinds[line.kind]
        original = own.get((kind, line.code), "")
        translated = names.name(lang, table.carrier, kind, line.code, original)
        if original and line.description.startswith(original):
            rest = line.description[len(original) :]
            if kind == "services":
                rest = _engine_words(rest)
            labels.append(translated + local_numbers(rest))
        else:
            labels.append(local_numbers(line.description))
    return labels


def _engine_words(detail: str) -> str:
    """The words of the engine's base-line detail ("1.2 oz charged as 2 oz: ...") in the
    visitor's language; the weights and amounts stay exactly as the engine wrote them."""
    for english, translated in (
        (" charged as ", _("charged as")),
        (" in the bracket up to ", _("in the bracket up to")),
        (", zone ", _("zone")),
    ):
        edge = ", " if english.startswith(",") else " "
        detail = detail.replace(english, f"{edge}{translated} ")
    return detail


def local_numbers(text: object) -> str:
    """``text`` (an engine's line detail, a weight) with its amounts and quantities in the
    visitor's locale, by Babel: "0.74 USD" is "0,74 $US" and "1.2 oz" is "1,2 oz" in
    French."""

    locale = money_locale()

    def amount(match: re.Match[str]) -> str:  # exact: a mill digit is shown, never rounded
        return Money.parse(f"{match[1]} {match[2]}").format(locale)

    def quantity(match: re.Match[str]) -> str:
        return format_decimal(Decimal(match[1]), locale=locale, decimal_quantization=False)

    return _QUANTITY_RE.sub(quantity, _AMOUNT_RE.sub(amount, str(text)))


def service_label(carrier: str, service: str, default: str) -> str:
    return current_postroom().rates.names().name(_lang(), carrier, "services", service, default)


def _text(value: object) -> str:
    return value.strip()[:100] if isinstance(value, str) else ""


def _unit(value: object) -> str:
    return _text(value).lower() or "oz"


def _codes(values: object) -> list[str]:
    if not isinstance(values, list):
        return []
    return [code[:60] for code in values if isinstance(code, str) and code]


#: Where each field's error is shown (both ZIP codes share one message, as the unit's
#: shares the weight's), in the order the first error of a place wins.
_ERROR_PLACES = (
    ("service", "service"),
    ("unit", "weight"),
    ("weight", "weight"),
    ("date", "date"),
    ("extras", "extras"),
    ("origin", "zip"),
    ("destination", "zip"),
)


class PriceForm(Form):
    """The price-a-piece form of the portal and the kiosk (WTForms), with the posted
    names ``service``, ``weight``, ``unit``, ``date``, ``extras``, ``from`` and ``to``.

    The CSRF token is checked for every POST by the application's ``CSRFProtect``, as
    for every other form. ``messages`` holds one error text per place on the page (a
    field, ``zip`` for both ZIP codes, ``form`` and ``detail`` for the engine's refusals),
    in the visitor's language.
    """

    service = StringField(filters=[_text])
    weight = StringField(filters=[_text])
    unit = StringField(filters=[_unit])
    date = StringField(filters=[_text])
    extras = SelectMultipleField(validate_choice=False, filters=[_codes])
    origin = StringField(name="from", filters=[_text])
    destination = StringField(name="to", filters=[_text])

    def __init__(self, *args: Any, known: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.known = frozenset(known)
        self.piece: Piece | None = None
        self.day: datetime.date | None = None
        self._failures: dict[str, str] = {}

    def validate_service(self, field: Field) -> None:
        if field.data not in self.known:
            raise StopValidation(_("Choose a service from the list."))

    def validate_unit(self, field: Field) -> None:
        if field.data not in UNITS:
            raise StopValidation(_("Choose a unit: oz, lb, g or kg."))

    def validate_weight(self, field: Field) -> None:
        if self.unit.data not in UNITS:
            return  # the unit's own error says what to fix first
        # a decimal comma is what French visitors type: 1,2 is 1.2
        number = field.data if "." in field.data else field.data.replace(",", ".", 1)
        try:
            self.piece = Piece(Weight.of(number, self.unit.data).require_positive())
        except PostroomError:
            raise StopValidation(_("Enter a weight greater than zero, e.g. 1.2.")) from None

    def validate_date(self, field: Field) -> None:
        try:
            if not _DATE_RE.fullmatch(field.data):
                raise ValueError(field.data)
            self.day = datetime.date.fromisoformat(field.data)
        except ValueError:
            raise StopValidation(_("Enter a date as YYYY-MM-DD.")) from None

    def validate_origin(self, field: Field) -> None:
        if bool(field.data) != bool(self.destination.data):
            raise StopValidation(_("Enter both ZIP codes, 5 digits each, or neither."))
        self._check_zip(field)

    def validate_destination(self, field: Field) -> None:
        self._check_zip(field)

    @staticmethod
    def _check_zip(field: Field) -> None:
        if field.data and not _ZIP_RE.fullmatch(field.data):
            raise StopValidation(_("Enter both ZIP codes, 5 digits each, or neither."))

    @property
    def extra_codes(self) -> list[str]:
        """The extra services ticked (their codes)."""
        return list(self.extras.data or ())

    def fail(self, place: str, message: str) -> None:
        """Show ``message`` at ``place`` (the first message of a place stays)."""
        self._failures.setdefault(place, message)

    @property
    def messages(self) -> dict[str, str]:
        shown: dict[str, str] = {}
        for name, place in _ERROR_PLACES:
            for message in self[name].errors:
                shown.setdefault(place, str(message))
        for place, message in self._failures.items():
            shown.setdefault(place, message)
        return shown

    def parse(self) -> ParsedForm:
        """Typed values for the engine, or ``FormInvalid`` with every field error found."""
        if not self.validate() or self.piece is None or self.day is None:
            raise FormInvalid
        carrier, _sep, service = (self.service.data or "").partition("/")
        origin, destination = self.origin.data or None, self.destination.data or None
        return carrier, service, self.piece, self.day, origin, destination


class FormInvalid(Exception):
    pass


ParsedForm = tuple[str, str, Piece, datetime.date, str | None, str | None]


def quote_form(form: PriceForm, services: list[ServiceChoice]) -> tuple[Quote, ParsedForm] | None:
    """Quote the piece a price form describes (the portal's and the kiosk's), or None
    with the form's errors recorded on it."""
    form.known = frozenset(choice.value for choice in services)
    try:
        parsed = form.parse()
    except FormInvalid:
        return None
    carrier, service, piece, day, origin, destination = parsed
    try:
        result = current_postroom().rates.quote(
            piece,
            carrier,
            service,
            form.extra_codes,
            on=day,
            origin=origin,
            destination=destination,
        )
    except PostroomError as error:
        field = FIELD_OF_CODE.get(error.code, "form")
        form.fail(field, error_messages().get(error.code, error.message))
        if error.code == "over_limit":
            form.fail("detail", error.message)
        return None
    return result, parsed


def render_price_page(
    template: str,
    form: PriceForm,
    services: list[ServiceChoice],
    extras: list[ExtraChoice],
    result: Quote | None = None,
    status: int = 200,
    **context: object,
) -> tuple[str, int]:
    """A price-a-piece page (the portal's or the kiosk's) with the form and its result."""
    locale = money_locale()

    def money(amount: Money) -> str:
        return amount.format(locale)

    return render_template(
        template,
        form=form,
        services=services,
        extras=extras,
        units=UNITS,
        result=result,
        labels=line_labels(result) if result is not None else [],
        service_label=service_label,
        money=money,
        numbers=local_numbers,
        **context,
    ), status


def _render(
    form: PriceForm,
    services: list[ServiceChoice],
    extras: list[ExtraChoice],
    result: Quote | None = None,
    comparison: Comparison | None = None,
    status: int = 200,
) -> tuple[str, int]:
    return render_price_page(
        "rates/price.html", form, services, extras, result, status, comparison=comparison
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
    form = PriceForm(request.form)
    quoted = quote_form(form, services)
    if quoted is None:
        return _render(form, services, extras, status=422)
    result, (_, _, piece, day, origin, destination) = quoted
    try:
        comparison: Comparison | None = current_postroom().rates.compare(
            piece, form.extra_codes, on=day, origin=origin, destination=destination
        )
    except PostroomError:  # the comparison is a bonus: the quote stands without it
        comparison = None
    if comparison is not None:
        # only prices in the quote's currency compare: a dollar and a euro price do not
        same = comparison.in_currency(result.total.currency)
        comparison = attrs.evolve(comparison, options=same)
    return _render(form, services, extras, result, comparison)
