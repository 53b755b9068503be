"""``postroom kiosk serve``: the mailroom terminal's own web app, for its touch screen.

It drives the terminal's scale through the HAL and asks its data center
(``backend.DataCenter``: the API with the terminal's kiosk key, or the local store) for
everything else. The screens: sign in (an operator and their PIN), weigh (the live weight
from the scale, zero, or a weight keyed in; the unit follows the account's country),
choose (the services the account can print, cheapest first, each with its itemised price
and delivery note), print (booked to the operator and a cost centre; a double touch prints
once) and the printed piece. Nothing prints without an operator; after
``idle_seconds`` without a touch the data center signs the operator out and the screen
goes back to sign-in (a ``refresh`` header, no script). Every form carries its CSRF
token; English and French on every screen.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from babel.numbers import format_decimal
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError, CSRFProtect
from PIL import Image

from postroom.core.clock import Clock, SystemClock, today
from postroom.core.errors import (
    DeviceError,
    Locked,
    PostroomError,
    Unauthenticated,
)
from postroom.core.kiosks.model import MEASURED_SHAPES
from postroom.core.meters.indicium import IndiciumRecord
from postroom.core.meters.indicium_image import HumanBlock, read_symbol, unpack_symbol
from postroom.core.meters.printing import carrier_mark
from postroom.core.money import Money
from postroom.core.units import Dimensions, Weight, fraction_to_decimal
from postroom.frontends.kiosk import ops
from postroom.frontends.kiosk.backend import (
    LETTER,
    DataCenter,
    DataCenterUnreachable,
    Offer,
    OfferExtra,
    OperatorChoice,
    PieceSize,
    RefusedOffer,
    TerminalInfo,
)
from postroom.frontends.kiosk.messages import print_error
from postroom.frontends.kiosk.meter import MeterPrinting, TerminalMeter
from postroom.frontends.kiosk.meter_messages import meter_error
from postroom.frontends.kiosk.scale import ScaleView, TerminalScale
from postroom.frontends.web import i18n, security
from postroom.frontends.web.rates_pages import LOCALES
from postroom.hal.labels import ZplPrinter, indicium_label

HERE = Path(__file__).resolve().parent
WEB = HERE.parent / "web"

bp = Blueprint(
    "terminal",
    __name__,
    static_folder="static",
    static_url_path="/terminal-static",  # the app's /static serves the portal's icon
    template_folder="templates",
)

#: Screens reachable without an operator.
OPEN_ENDPOINTS = (
    frozenset(
        {
            "terminal.sign_in",
            "terminal.sign_in_submit",
            "terminal.static",
            "static",
            "i18n.choose_language",
        }
    )
    | ops.OPEN_ENDPOINTS
)
SESSION_OPERATOR = "terminal_operator"
SESSION_PIECES = "terminal_pieces"
MAX_SESSION_PIECES = 20
MAX_PIN_TEXT = 64
MAX_WEIGHT_TEXT = 12
#: The weight units offered, by the account's country (the first is the default).
UNITS_BY_COUNTRY = {"US": ("oz", "lb"), "LR": ("oz", "lb"), "MM": ("oz", "lb")}
METRIC_UNITS = ("g", "kg")
#: Scale problems, as the operator reads them.
SCALE_PROBLEMS: dict[str, Callable[[], str]] = {
    "scale_overload": lambda: _("Over capacity: take the piece off the scale."),
    "scale_underload": lambda: _("Below zero: empty the platter and touch Zero."),
    "scale_under_zero": lambda: _("Below zero: empty the platter and touch Zero."),
    "scale_timeout": lambda: _("The scale does not answer: check its cable, or key the weight in."),
    "device_unavailable": lambda: _("No scale is connected: key the weight in."),
    "scale_protocol_error": lambda: _("The scale answers something unreadable: key the weight in."),
    "scale_in_motion": lambda: _("The weight is not stable yet: wait a moment."),
    "scale_tare_unsupported": lambda: _("This scale cannot tare: weigh the container apart."),
    "scale_tare_out_of_range": lambda: _("The load is too heavy to tare."),
    "scale_zero_out_of_range": lambda: _("The load is too heavy to zero: empty the platter."),
}


def _units(info: TerminalInfo) -> tuple[str, ...]:
    return UNITS_BY_COUNTRY.get(info.country, METRIC_UNITS)


def _length_unit(info: TerminalInfo) -> str:
    """Inches where the weight is in ounces (the US), centimetres elsewhere (CA, FR...)."""
    return "in" if info.country in UNITS_BY_COUNTRY else "cm"


#: The shapes the operator chooses from, in the order shown (``kiosks.model.PIECE_SHAPES``).
SHAPES: dict[str, Callable[[], str]] = {
    "letter": lambda: _("Letter"),
    "large_envelope": lambda: _("Large envelope"),
    "parcel": lambda: _("Parcel"),
}
#: The sides of a measured piece, as the form names them.
SIDES = ("length", "width", "height")
MAX_LENGTH_TEXT = 8


def _data_center() -> DataCenter:
    found: DataCenter = bp_state()["data_center"]
    return found


def _scale() -> TerminalScale | None:
    found: TerminalScale | None = bp_state()["scale"]
    return found


def _label_printer() -> ZplPrinter | None:
    found: ZplPrinter | None = bp_state()["label_printer"]
    return found


def _meter_printing() -> MeterPrinting | None:
    found: MeterPrinting | None = bp_state()["meter_printing"]
    return found


#: Label printer problems, as the operator reads them.
PRINTER_PROBLEMS: dict[str, Callable[[], str]] = {
    "printer_offline": lambda: _(
        "The label printer does not answer: check that it is on and connected."
    ),
    "printer_out_of_labels": lambda: _("The label printer is out of labels: load a new roll."),
    "printer_paused": lambda: _("The label printer is paused: press its pause button."),
}


def _printer_problem(error: DeviceError) -> str:
    problem = PRINTER_PROBLEMS.get(error.code)
    if problem is None:
        return str(_("The label printer reports a problem (%(code)s).", code=error.code))
    return str(problem())


def bp_state() -> dict[str, Any]:
    state: dict[str, Any] = current_app.extensions["postroom_terminal"]
    return state


#: How long the terminal trusts what its data center last said of the account and of a
#: signed-in operator, instead of asking on every touch (two round trips, one a write):
#: an operator signed out elsewhere, removed or whose key was revoked is refused within
#: this time; every print on the virtual meter is checked by the data center itself.
FACTS_TTL = timedelta(seconds=3)


def _facts_now() -> datetime:
    clock: Clock = bp_state()["clock"]
    return clock.now()


def _info() -> TerminalInfo:
    """The terminal's account, asked at most every ``FACTS_TTL``."""
    if "terminal_info" not in g:
        state = bp_state()
        now = _facts_now()
        kept: tuple[TerminalInfo, datetime] | None = state.get("info_kept")
        if kept is None or not timedelta(0) <= now - kept[1] < FACTS_TTL:
            kept = state["info_kept"] = (_data_center().terminal(), now)
        g.terminal_info = kept[0]
    info: TerminalInfo = g.terminal_info
    return info


def _signed_in(token: str) -> OperatorChoice:
    """The operator signed in with ``token``, asked of the data center (which marks the
    sign-in active) at most every ``FACTS_TTL``."""
    kept: dict[str, tuple[OperatorChoice, datetime]] = bp_state()["operators_kept"]
    now = _facts_now()
    found = kept.get(token)
    if found is not None and timedelta(0) <= now - found[1] < FACTS_TTL:
        return found[0]
    try:
        operator = _data_center().operator(token)
    except Unauthenticated:
        kept.pop(token, None)
        raise
    for stale in [t for t, (_o, at) in list(kept.items()) if not now - at < FACTS_TTL]:
        kept.pop(stale, None)  # browsers gone: the dict stays small (a copy: threads)
    kept[token] = (operator, now)
    return operator


def forget_operator(token: str) -> None:
    """Signed out here: the next touch asks the data center again."""
    bp_state()["operators_kept"].pop(token, None)


def _fresh_session() -> None:
    """A new browser session (a new CSRF token, no pieces), keeping the language."""
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language


@bp.before_app_request
def _check_operator() -> ResponseReturnValue | None:
    g.operator = None
    token = session.get(SESSION_OPERATOR)
    if isinstance(token, str):
        try:
            g.operator = _signed_in(token)
        except DataCenterUnreachable:
            if request.endpoint == "terminal.print_postage" and request.method == "POST":
                return _retry_page()
            raise
        except Unauthenticated:  # idle too long, signed out elsewhere, or removed
            _fresh_session()
            if request.endpoint not in OPEN_ENDPOINTS:
                return redirect(url_for("terminal.sign_in", idle=1), 303)
    if g.operator is None and request.endpoint not in OPEN_ENDPOINTS:
        return redirect(url_for("terminal.sign_in"), 303)
    return None


def today_on_terminal() -> date:
    return today(bp_state()["clock"])


def _operator() -> OperatorChoice | None:
    found: OperatorChoice | None = g.get("operator")
    return found


@bp.app_context_processor
def _context() -> dict[str, object]:
    return {"operator": _operator(), "idle_seconds": bp_state()["idle_seconds"]}


def _money(amount: Money) -> str:
    return amount.format(LOCALES.get(str(get_locale()), "en_US"))


def _shown_weight(weight: Weight, unit: str) -> str:
    """``0.96 oz`` (``0,96 oz`` in French), to the hundredth."""
    value = format_decimal(
        weight.to_decimal(unit, 2), "#,##0.00", locale=LOCALES.get(str(get_locale()), "en_US")
    )
    return f"{value} {unit}"


# ------------------------------------------------------------------------ sign in


@bp.get("/")
def home() -> ResponseReturnValue:
    return redirect(url_for("terminal.weigh"), 303)


def sign_in_page(
    status: int = 200, error: str | None = None, *, badge_error: bool = False
) -> tuple[str, int]:
    """The sign-in screen; ``error`` under the badge field or the PIN form."""
    return render_template(
        "terminal/sign_in.html",
        info=_info(),
        error=None if badge_error else error,
        badge_error=error if badge_error else None,
        signed_out=request.args.get("idle") == "1",
    ), status


def start_session(token: str) -> None:
    """A fresh browser session for the operator just signed in with ``token``."""
    _fresh_session()
    session[SESSION_OPERATOR] = token


@bp.get("/sign-in")
def sign_in() -> tuple[str, int]:
    return sign_in_page()


@bp.post("/sign-in")
def sign_in_submit() -> ResponseReturnValue:
    chosen = request.form.get("operator", "")
    # a tampered choice is an unknown operator: the same answer and throttle as a wrong PIN
    operator_id = int(chosen) if chosen.isascii() and chosen.isdigit() and len(chosen) < 10 else 0
    pin = request.form.get("pin", "")[:MAX_PIN_TEXT]
    try:
        token = _data_center().sign_in(operator_id, pin)
    except Locked as error:
        seconds = error.details.get("retry_after", 1)
        page, status = sign_in_page(
            429, _("Too many wrong PINs. Try again in %(seconds)s seconds.", seconds=seconds)
        )
        return page, status, {"Retry-After": str(seconds)}
    except Unauthenticated:
        return sign_in_page(401, _("Unknown operator or wrong PIN."))
    start_session(token)
    return redirect(url_for("terminal.weigh"), 303)


@bp.post("/sign-out")
def sign_out() -> ResponseReturnValue:
    token = session.get(SESSION_OPERATOR)
    if isinstance(token, str):
        forget_operator(token)
        _data_center().sign_out(token)
    _fresh_session()
    return redirect(url_for("terminal.sign_in"), 303)


# -------------------------------------------------------------------------- weigh


def _weigh_page(
    reading: ScaleView | None = None,
    *,
    weight: str = "",
    unit: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    info = _info()
    shape = request.values.get("shape", "letter")
    if shape not in SHAPES:
        shape = "letter"
    sides = {side: request.values.get(side, "")[:MAX_LENGTH_TEXT] for side in SIDES}
    size, size_error = _piece_size()
    if not any(sides.values()):
        size_error = None  # the measuring step, not yet filled in
    units = _units(info)
    scale = _scale()
    if reading is None and scale is not None:
        reading = scale.read()
    problem = SCALE_PROBLEMS.get(reading.problem or "", lambda: "")() if reading else ""
    if reading is not None and reading.problem and not problem:
        problem = _(
            "The scale reports a problem (%(code)s): key the weight in.", code=reading.problem
        )
    shown = ""
    if reading is not None and reading.weight is not None:
        shown = _shown_weight(reading.weight, units[0])
    return render_template(
        "terminal/weigh.html",
        info=info,
        units=units,
        unit=unit if unit in units else units[0],
        weight=weight,
        reading=reading,
        shown=shown,
        problem=problem,
        error=error,
        shapes={code: name() for code, name in SHAPES.items()},
        shape=shape,
        measured=shape in MEASURED_SHAPES,
        sides=sides,
        side_names=[
            ("length", _("Length")),
            ("width", _("Width")),
            ("height", _("Height")),
        ],
        size_fields=size_fields(size) if size is not None and size.shape == shape else [],
        size_error=size_error,
        shown_size=_shown_size(size) if size is not None else "",
        length_unit=_length_unit(info),
        decimal_mark="," if str(get_locale()).startswith("fr") else ".",
    ), status


@bp.get("/weigh")
def weigh() -> tuple[str, int]:
    return _weigh_page()


@bp.post("/weigh/zero")
def zero() -> ResponseReturnValue:
    return _scale_command("zero")


@bp.post("/weigh/tare")
def tare() -> ResponseReturnValue:
    return _scale_command("tare")


def _scale_command(name: str) -> ResponseReturnValue:
    scale = _scale()
    if scale is None:
        return redirect(url_for("terminal.weigh"), 303)
    problem = scale.zero() if name == "zero" else scale.tare()
    if problem is not None:
        return _weigh_page(ScaleView(problem=problem), status=409)
    return redirect(url_for("terminal.weigh"), 303)


def _typed_weight(text: str, unit: str, units: tuple[str, ...]) -> Weight | None:
    """The keyed-in weight, or None when it is not a positive decimal in a known unit."""
    text = text.strip().replace(",", ".")[:MAX_WEIGHT_TEXT]
    if unit not in units:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite() or value <= 0:
        return None
    return Weight.of(value, unit)


def _piece_weight() -> tuple[Weight | None, str | None]:
    """The piece's weight from the form: the scale's stable reading ("Use the scale") or
    the keyed-in value; else the reason, for the weigh screen."""
    info = _info()
    scale = _scale()
    if request.form.get("source") == "scale" and scale is not None:
        reading = scale.read(stable=True)
        if not reading.usable:
            return None, (
                SCALE_PROBLEMS.get(reading.problem or "", lambda: "")()
                or _("Put the piece on the scale and wait for a stable weight.")
            )
        return reading.weight, None
    weight = _typed_weight(
        request.form.get("weight", ""), request.form.get("unit", ""), _units(info)
    )
    if weight is None:
        return None, _("Enter a weight greater than zero, e.g. 1.2.")
    return weight, None


def _typed_length(text: str) -> Decimal | None:
    text = text.strip().replace(",", ".")[:MAX_LENGTH_TEXT]
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() and value > 0 else None


def _piece_size() -> tuple[PieceSize | None, str | None]:
    """What the form says the piece is: a letter (the default), or a large envelope or a
    parcel with its three sides in the account's length unit; else the reason."""
    shape = request.values.get("shape", "letter")
    if shape not in SHAPES:
        return None, _("Choose a letter, a large envelope or a parcel.")
    if shape not in MEASURED_SHAPES:
        return PieceSize(shape), None
    lengths = [_typed_length(request.values.get(side, "")) for side in SIDES]
    if any(length is None for length in lengths):
        return None, _("Enter the length, width and height, each greater than zero.")
    length, width, height = (length or Decimal(0) for length in lengths)
    unit = _length_unit(_info())
    return PieceSize(shape, Dimensions.of(length, width, height, unit)), None


def size_fields(size: PieceSize) -> list[tuple[str, str]]:
    """The piece's shape and sides as hidden form fields: the next screen prices the
    same piece."""
    fields = [("shape", size.shape)]
    if size.dimensions is not None:
        unit = size.dimensions.unit
        values = size.dimensions.to(unit)
        fields += [
            (side, f"{fraction_to_decimal(value, 4).normalize():f}")
            for side, value in zip(SIDES, values, strict=True)
        ]
    return fields


def _shown_size(size: PieceSize) -> str:
    """``Parcel, 30 x 20 x 10 cm`` (decimal comma in French); a letter: ``Letter``."""
    name = SHAPES[size.shape]()
    if size.dimensions is None:
        return str(name)
    unit = size.dimensions.unit
    locale = LOCALES.get(str(get_locale()), "en_US")
    sides = " x ".join(
        format_decimal(fraction_to_decimal(value, 2), "#,##0.##", locale=locale)
        for value in size.dimensions.to(unit)
    )
    return f"{name}, {sides} {unit.value}"


#: Why a service of the piece's shape is not offered, in the operator's words.
def _refusal_text(refused: RefusedOffer) -> str:
    if refused.code == "dimensions_required":
        return str(_("it needs the piece's size"))
    if refused.dimension:
        side = {
            "length": _("the length"),
            "height": _("the width"),  # the rates' height is the terminal's width
            "thickness": _("the height"),
        }.get(refused.dimension, refused.dimension)
        if refused.bound == "min":
            return str(
                _("%(side)s is under its minimum of %(limit)s", side=side, limit=refused.limit)
            )
        return str(_("%(side)s is over its maximum of %(limit)s", side=side, limit=refused.limit))
    return str(_("the weight is over its maximum of %(limit)s", limit=refused.limit))


# ------------------------------------------------------------------- choose, print


#: The most extras one piece carries, and the longest extra code read from a form.
MAX_EXTRAS = 6
MAX_EXTRA_CODE = 40


def _extras_chosen() -> tuple[str, ...]:
    """The extras the form names (Certified...), each once; the data center checks them."""
    chosen: list[str] = []
    for code in request.form.getlist("extra")[:MAX_EXTRAS]:
        if code and len(code) <= MAX_EXTRA_CODE and code.isascii() and code not in chosen:
            chosen.append(code)
    return tuple(chosen)


@bp.post("/offers")
def offers() -> tuple[str, int]:
    size, error = _piece_size()
    weight = None
    if size is not None:
        weight, error = _piece_weight()
    if size is None or weight is None:
        return _weigh_page(
            weight=request.form.get("weight", "")[:MAX_WEIGHT_TEXT],
            unit=request.form.get("unit"),
            error=error,
            status=422,
        )
    return _offers_page(weight, extras=_extras_chosen(), size=size)


#: The print form's fields a retry sends again unchanged.
RETRIED_FIELDS = (
    "idempotency_key",
    "carrier",
    "service",
    "weight_value",
    "weight_unit",
    "cost_center",
    "target",
    "shape",
    *SIDES,
)


def _retry_page(message: str | None = None) -> tuple[str, int]:
    """The data center (or the meter) did not answer a print, maybe after charging it:
    the same print again, with the same idempotency key, so that the next touch shows
    the piece if it was printed and never charges twice (no offers: they need the data
    center too)."""
    fields = {name: request.form.get(name, "")[:80] for name in RETRIED_FIELDS}
    return render_template(
        "terminal/retry.html", fields=fields, extras=_extras_chosen(), message=message
    ), 503


def _cost_centers(info: TerminalInfo) -> tuple[str, ...]:
    """The cost centres the signed-in operator may book to (the data center narrows the
    account's to the operator's)."""
    operator = _operator()
    return operator.cost_centers if operator is not None else info.cost_centers


def _offers_page(
    weight: Weight,
    error: str | None = None,
    status: int = 200,
    extras: tuple[str, ...] = (),
    size: PieceSize | None = None,
) -> tuple[str, int]:
    info = _info()
    size = size or _piece_size()[0] or LETTER
    found = _data_center().offers(weight, extras, size)
    sold = found
    if extras and not found:  # no service sells them all: offer the extras of each service
        sold = _data_center().offers(weight, (), size)
        error = error or _("No service sells all the extras chosen: remove one.")
    available: dict[str, OfferExtra] = {}
    for offer in sold:
        for extra in offer.extras:
            available.setdefault(extra.code, extra)
    printing = _meter_printing()
    on_meter = (
        {offer.digest for offer in found if printing.meter.can_print(offer)}
        if printing is not None
        else set()
    )
    return render_template(
        "terminal/offers.html",
        info=info,
        cost_centers=_cost_centers(info),
        offers=found,
        extras=extras,
        available_extras=list(available.values()),
        meter_attached=printing is not None,
        on_meter=on_meter,
        label_printer=_label_printer() is not None,
        weight=weight.json(),
        shown_weight=_shown_weight(weight, _units(info)[0]),
        money=_money,
        print_key="terminal-" + secrets.token_hex(12),
        error=error,
        size_fields=size_fields(size),
        shown_size=_shown_size(size),
        refused=[(r, _refusal_text(r)) for r in found.refused],
    ), status


@bp.post("/print")
def print_postage() -> ResponseReturnValue:
    token = session.get(SESSION_OPERATOR)
    key = request.form.get("idempotency_key", "").strip()[:64]
    info = _info()
    try:
        weight = Weight.of(
            request.form.get("weight_value", ""), request.form.get("weight_unit", "")
        )
    except (PostroomError, ValueError, TypeError, InvalidOperation):
        return _weigh_page(error=_("Weigh the piece again."), status=422)
    size = _piece_size()[0]
    if not isinstance(token, str) or not key or size is None:
        return _weigh_page(error=_("Weigh the piece again."), status=422)
    center = request.form.get("cost_center") or None
    extras = _extras_chosen()
    if center is not None and center not in _cost_centers(info):
        return _offers_page(weight, _("Choose one of the cost centres shown."), 422, extras)
    printing = _meter_printing()
    if printing is not None and request.form.get("target") == "meter":
        return _print_on_meter(printing, token, weight, center, key, extras)
    if size.dimensions is not None and (
        _chosen_offer(
            weight,
            request.form.get("carrier", "")[:40],
            request.form.get("service", "")[:80],
            extras,
            size,
        )
        is None
    ):  # the virtual meter prices by weight: the size is checked against the service here
        return _offers_page(
            weight,
            _("This service cannot print this piece: choose one of those shown."),
            422,
            extras,
        )
    printer = _label_printer()
    if printer is not None:
        try:  # before any charge: a label that cannot come out is not paid for
            printer.check()
        except DeviceError as error:
            return _offers_page(
                weight, _printer_problem(error) + " " + _("Nothing was charged."), 503, extras
            )
    try:
        printed = _data_center().print_postage(
            token,
            request.form.get("carrier", "")[:40],
            request.form.get("service", "")[:80],
            weight,
            extras,
            center,
            key,
            bp_state()["origin_zip"],
        )
    except DataCenterUnreachable:
        return _retry_page()
    except PostroomError as error:
        return _offers_page(weight, print_error(error), error.http_status, extras)
    _remember(printed.serial, printed.piece, printed.postage, printed.cost_center, printed.carrier)
    if printer is not None:
        problem = _print_label(
            printer, printed.serial, printed.piece, printed.carrier, printed.symbol
        )
        if problem is not None:
            return _printed_page(printed.serial, printed.piece, problem, 503)
    return redirect(url_for("terminal.printed", serial=printed.serial, piece=printed.piece), 303)


def _remember(
    serial: str, piece: int, postage: Money, cost_center: str | None, carrier: str
) -> None:
    """This browser session printed the piece: it may show it again."""
    pieces = [p for p in session.get(SESSION_PIECES, []) if p != [serial, piece]]
    session[SESSION_PIECES] = [*pieces, [serial, piece]][-MAX_SESSION_PIECES:]
    session[f"piece:{serial}:{piece}"] = [postage.mills, postage.currency, cost_center, carrier]


def _chosen_offer(
    weight: Weight,
    carrier: str,
    service: str,
    extras: tuple[str, ...] = (),
    size: PieceSize | None = None,
) -> Offer | None:
    """The offer of ``carrier``'s ``service`` for the piece of ``size`` (the form's by
    default) with ``extras``, priced again now (never from the form)."""
    size = size or _piece_size()[0] or LETTER
    for offer in _data_center().offers(weight, extras, size):
        if (offer.carrier, offer.service) == (carrier, service):
            return offer
    return None


def _print_on_meter(
    printing: MeterPrinting,
    token: str,
    weight: Weight,
    center: str | None,
    key: str,
    extras: tuple[str, ...],
) -> ResponseReturnValue:
    """Print on the attached meter (it debits and signs), then book the piece to the
    operator with the data center."""
    offer = _chosen_offer(
        weight, request.form.get("carrier", "")[:40], request.form.get("service", "")[:80], extras
    )
    if offer is None:
        return _offers_page(
            weight,
            _("This service cannot print this piece: choose one of those shown."),
            422,
            extras,
        )
    try:
        operator = _operator()
        if operator is None:
            return redirect(url_for("terminal.sign_in"), 303)
        piece, booked = printing.print(
            token, operator, offer, bp_state()["origin_zip"], center, key
        )
    except DeviceError as error:
        if error.code in ("meter_unavailable", "meter_not_printed"):
            return _retry_page(meter_error(error))
        return _offers_page(weight, meter_error(error), 503, extras)
    except PostroomError as error:
        return _offers_page(
            weight, meter_error(error) or print_error(error), error.http_status, extras
        )
    _remember(piece.serial, piece.number, piece.postage, center, piece.carrier)
    address = url_for("terminal.printed", serial=piece.serial, piece=piece.number)
    return redirect(address if booked else address + "?unbooked=1", 303)


def _print_label(
    printer: ZplPrinter, serial: str, piece: int, carrier: str, symbol: bytes | None = None
) -> str | None:
    """Print the piece's label (the indicium as a ZPL Data Matrix): its ``symbol`` as the
    print answered it, or, for a reprint, read back from the indicium's image; the
    problem's text when the printer could not. The piece is paid: a reprint never
    charges again."""
    content = symbol or read_symbol(_data_center().indicium_png(serial, piece))
    record = IndiciumRecord.from_bytes(unpack_symbol(content)[0])
    lines = HumanBlock.of(record, carrier_mark(carrier)).lines
    try:
        printer.print_label(indicium_label(content, lines))
    except DeviceError as error:
        return (
            _printer_problem(error)
            + " "
            + str(_("The postage is paid: touch Print the label again; it is not charged twice."))
        )
    return None


def _mine(serial: str, piece: int) -> tuple[Money, str | None, str]:
    if [serial, piece] not in session.get(SESSION_PIECES, []):
        abort(404)
    mills, currency, center, carrier = session[f"piece:{serial}:{piece}"]
    return Money(int(mills), str(currency)), center, str(carrier)


def _printed_page(
    serial: str,
    piece: int,
    label_problem: str | None = None,
    status: int = 200,
    *,
    notice: str | None = None,
) -> tuple[str, int]:
    postage, center, _carrier = _mine(serial, piece)
    printing = _meter_printing()
    on_meter = printing is not None and printing.meter.kept(serial, piece) is not None
    if notice is None and request.args.get("unbooked") == "1":
        notice = _(
            "The data center cannot be reached: the piece is paid from the meter's funds "
            "and is booked to you when the connection is back."
        )
    return render_template(
        "terminal/printed.html",
        serial=serial,
        piece=piece,
        postage=_money(postage),
        cost_center=center,
        label_printer=_label_printer() is not None and not on_meter,
        label_problem=label_problem,
        on_meter=on_meter,
        notice=notice,
    ), status


@bp.get("/printed/<serial>/<int:piece>")
def printed(serial: str, piece: int) -> tuple[str, int]:
    return _printed_page(serial, piece)


@bp.post("/printed/<serial>/<int:piece>/label")
def print_label_again(serial: str, piece: int) -> ResponseReturnValue:
    _postage, _center, carrier = _mine(serial, piece)
    printer = _label_printer()
    if printer is None:
        abort(404)
    problem = _print_label(printer, serial, piece, carrier)
    if problem is not None:
        return _printed_page(serial, piece, problem, 503)
    return redirect(url_for("terminal.printed", serial=serial, piece=piece, label=1), 303)


@bp.post("/printed/<serial>/<int:piece>/meter")
def print_on_meter_again(serial: str, piece: int) -> ResponseReturnValue:
    """The same indicium again on the meter: it answers the reply it stored, no debit."""
    _mine(serial, piece)
    printing = _meter_printing()
    kept = printing.meter.kept(serial, piece) if printing is not None else None
    if printing is None or kept is None:
        abort(404)
    try:
        printing.meter.reprint(kept)
    except PostroomError as error:
        return _printed_page(serial, piece, meter_error(error) or print_error(error), 503)
    return redirect(url_for("terminal.printed", serial=serial, piece=piece, again=1), 303)


@bp.post("/printed/<serial>/<int:piece>/misprint")
def flag_misprint(serial: str, piece: int) -> ResponseReturnValue:
    """Flag the piece as misprinted: a refund request (the 60-day rule), asked once."""
    _mine(serial, piece)
    token = session.get(SESSION_OPERATOR)
    if not isinstance(token, str):
        return redirect(url_for("terminal.sign_in"), 303)
    try:
        answer = _data_center().flag_misprint(token, serial, piece)
    except DataCenterUnreachable:
        return _printed_page(
            serial,
            piece,
            status=503,
            notice=_("The data center cannot be reached: flag the piece again later."),
        )
    except PostroomError as error:
        return _printed_page(
            serial, piece, status=error.http_status, notice=_misprint_refused(error)
        )
    if answer.status == "awaiting_sync":
        notice = _(
            "Flagged as misprinted. The refund is asked once the meter has been connected to "
            "the data center: flag the piece again after that."
        )
    else:
        notice = _(
            "Flagged as misprinted: refund request %(id)s is with the data center.",
            id=answer.refund_id,
        )
    return _printed_page(serial, piece, notice=notice)


def _misprint_refused(error: PostroomError) -> str:
    if error.code == "piece_already_refunded":
        return str(_("This piece is already asked back."))
    if error.code == "refund_window_passed":
        return str(_("Misprints are refunded within 60 days of printing: this piece is too old."))
    return str(
        _(
            "The refund could not be asked (%(code)s): ask your mailroom's administrator.",
            code=error.code,
        )
    )


@bp.get("/printed/<serial>/<int:piece>/indicium.png")
def printed_indicium(serial: str, piece: int) -> Response:
    return Response(_indicium_png(serial, piece), mimetype="image/png")


def _indicium_png(serial: str, piece: int) -> bytes:
    _mine(serial, piece)
    return _render_indicium(serial, piece)


def _render_indicium(serial: str, piece: int) -> bytes:
    """The piece's indicium: drawn from the meter's signed reply for a piece printed on the
    attached meter, else the data center's image of the virtual meter's piece."""
    printing = _meter_printing()
    kept = printing.meter.kept(serial, piece) if printing is not None else None
    if kept is not None:
        return kept.png()
    return _data_center().indicium_png(serial, piece)


#: The indicium image's resolution (the meters' renderer draws it at 200 dpi).
INDICIUM_DPI = 200.0


@bp.get("/printed/<serial>/<int:piece>/indicium.pdf")
def printed_indicium_pdf(serial: str, piece: int) -> Response:
    """The indicium as a one-page PDF at its true size, for an office printer."""
    with Image.open(io.BytesIO(_indicium_png(serial, piece))) as image:
        document = io.BytesIO()
        image.convert("L").save(document, format="PDF", resolution=INDICIUM_DPI)
    return Response(
        document.getvalue(),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{serial}-{piece}.pdf"'},
    )


# --------------------------------------------------------------------------- app


def _error_page(status: int, message: str) -> tuple[str, int]:
    return render_template("terminal/problem.html", message=message), status


def create_terminal_app(
    data_center: DataCenter,
    *,
    secret_key: str,
    origin_zip: str,
    idle_seconds: int = 60,
    scale: TerminalScale | None = None,
    label_printer: ZplPrinter | None = None,
    meter: TerminalMeter | None = None,
    default_locale: str = "en",
    clock: Clock | None = None,
) -> Flask:
    """The terminal's app over ``data_center`` (and its ``scale``, ``label_printer`` and
    postage ``meter``, when attached)."""
    from postroom.frontends.kiosk import batch  # its screens use this module's helpers

    app = Flask(__name__, static_folder=str(WEB / "static"), root_path=str(HERE))
    app.config.update(
        SECRET_KEY=secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_NAME="postroom_terminal",
        MAX_CONTENT_LENGTH=64 * 1024,
        WTF_CSRF_TIME_LIMIT=None,
        BABEL_DEFAULT_LOCALE=default_locale,
        BABEL_TRANSLATION_DIRECTORIES=str(WEB / "translations"),
    )
    app.extensions["postroom_terminal"] = {
        "data_center": data_center,
        "scale": scale,
        "label_printer": label_printer,
        "meter_printing": None if meter is None else MeterPrinting(meter, data_center),
        "batches": batch.Batches(),
        "clock": clock or SystemClock(),
        "operators_kept": {},
        "origin_zip": origin_zip,
        "idle_seconds": idle_seconds,
    }
    CSRFProtect(app)
    i18n.init_app(app)
    security.init_app(app)
    app.register_blueprint(i18n.bp)
    app.register_blueprint(bp)
    app.register_blueprint(batch.bp)
    ops.init_app(app)

    @app.errorhandler(DataCenterUnreachable)
    def unreachable(error: DataCenterUnreachable) -> tuple[str, int]:
        return _error_page(
            503,
            _(
                "The data center cannot be reached: the virtual meter and the price refresh "
                "wait for the connection. Nothing was charged."
            ),
        )

    @app.errorhandler(PostroomError)
    def domain_error(error: PostroomError) -> tuple[str, int]:
        return _error_page(error.http_status, print_error(error))

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> tuple[str, int]:
        return _error_page(400, _("The form expired or was not sent from this site; try again."))

    @app.errorhandler(404)
    def not_found(error: Exception) -> tuple[str, int]:
        return _error_page(404, _("This page does not exist."))

    return app
