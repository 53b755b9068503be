"""Kiosk pages: touch-first screens for mailroom terminals, on the same core as the portal.

``/kiosk/price`` prices a piece with large touch targets and no script at all: the service
is chosen with big buttons, the weight typed on the device's numeric keyboard or on an
on-screen keypad (each key is a form button the server answers, so it works without
JavaScript), the unit with a toggle, extras with big check buttons. The price is
itemized; the language can be switched with one touch. Every form carries its CSRF token.
The rules are the portal's (``frontends.web.rates_pages``): this module only lays them out.

After pricing, a kiosk bound to a customer account (``POSTROOM_KIOSK_ACCOUNT``, with the
mailroom's ``POSTROOM_KIOSK_ORIGIN_ZIP``) offers a big "Print postage" button and the
account's cost centres: ``POST /kiosk/print`` prints the piece on the account's virtual
meter (``pr.meters.print_postage``) and shows its indicium, ready for the printer. The
form carries an idempotency key made when the price was shown, so a double touch prints
one piece. Only the browser session that printed a piece can show it again.

Nothing prints without a known operator (docs/security.md "Kiosk operators and rate
limits"): an operator of the bound account signs in at ``/kiosk/sign-in`` with their PIN
(``pr.accounts.sign_in_operator``: throttled per operator and per kiosk), which starts a
fresh browser session holding only a sign-in token; every kiosk request checks it by the
server's clock and signs the operator out after ``POSTROOM_KIOSK_IDLE_SECONDS`` without a
touch. Each print is booked to the operator. The print form needs its idempotency key and
a same-origin request (its ``Origin``, or ``Referer`` without one, names this host), and
prints are rate-limited per kiosk (``frontends.web.limits``).
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from postroom.core.accounts.model import KioskOperator
from postroom.core.clock import today
from postroom.core.errors import Locked, PostroomError, Unauthenticated
from postroom.core.meters.virtual import PrintedPostage
from postroom.core.rates.model import Quote
from postroom.frontends.kiosk.messages import print_error
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.errors import error_response
from postroom.frontends.web.limits import client_address
from postroom.frontends.web.rates_pages import (
    ExtraChoice,
    PriceForm,
    ServiceChoice,
    money_locale,
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


#: How the piece log and the reports name these pages' prints.
PORTAL_KIOSK = "kiosk pages"
#: The pieces a browser session printed (the newest last), so that it alone shows them again.
SESSION_PIECES = "kiosk_pieces"
MAX_SESSION_PIECES = 20


def _account() -> tuple[str, str] | None:
    """The kiosk's customer account and origin ZIP, or None when it only prices."""
    config = current_postroom().config
    if not config.kiosk_account or not config.kiosk_origin_zip:
        return None
    return config.kiosk_account, config.kiosk_origin_zip


#: The browser session's sign-in token (the server keeps its hash and last use).
SESSION_OPERATOR = "kiosk_operator"
#: The POSTs that change something: refused unless sent from a page of this host.
SAME_ORIGIN_ENDPOINTS = frozenset({"kiosk.print_postage", "kiosk.sign_in_submit", "kiosk.sign_out"})
#: The longest PIN read from a form (a longer one is wrong anyway).
MAX_PIN_TEXT = 64


def _same_origin() -> bool:
    """Whether the request comes from a page of this host: its ``Origin`` or, when a
    browser sends none, its ``Referer``; a request with neither is refused too."""
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source:
        return False
    parts = urlsplit(source)
    return (parts.scheme, parts.netloc) == (request.scheme, request.host)


def _fresh_session() -> None:
    """A new browser session (a new CSRF token, no printed pieces), keeping the language."""
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language


@bp.before_request
def _check_request() -> ResponseReturnValue | None:
    g.kiosk_operator = None
    g.kiosk_signed_out = False
    if request.endpoint == "kiosk.static":
        return None
    posted = request.method == "POST" and request.endpoint in SAME_ORIGIN_ENDPOINTS
    if posted and not _same_origin():
        return error_response(
            403, "cross_origin", _("This form is only accepted from the kiosk's own pages.")
        )
    token = session.get(SESSION_OPERATOR)
    bound = _account()
    if isinstance(token, str) and bound is not None:
        postroom = current_postroom()
        idle = timedelta(seconds=postroom.config.kiosk_idle_seconds)
        try:
            g.kiosk_operator = postroom.accounts.kiosk_operator(bound[0], token, idle=idle)
        except Unauthenticated:  # idle too long, signed out elsewhere, or removed
            _fresh_session()
            g.kiosk_signed_out = True
    return None


def _operator() -> KioskOperator | None:
    operator: KioskOperator | None = g.get("kiosk_operator")
    return operator


@bp.context_processor
def _kiosk_context() -> dict[str, object]:
    return {
        "operator": _operator(),
        "idle_seconds": current_postroom().config.kiosk_idle_seconds,
    }


def _service_choices() -> tuple[list[ServiceChoice], list[ExtraChoice]]:
    """The services this kiosk offers: with a bound account, only those priced in its
    currency (a US kiosk never offers a euro service it could not book)."""
    bound = _account()
    if bound is None:
        return service_choices()
    return service_choices(current_postroom().accounts.get(bound[0]).currency)


def _print_choices(result: Quote | None) -> dict[str, object]:
    """What the "Print postage" form needs after a price: the account's cost centres and
    a fresh idempotency key (a double touch then prints one piece)."""
    bound = _account()
    if result is None or bound is None:
        return {"can_print": False}
    if _operator() is None:
        return {"can_print": False, "sign_in_to_print": True}
    operator = _operator()
    assert operator is not None
    return {
        "can_print": True,
        "cost_centers": operator.usable_cost_centers(
            current_postroom().meters.print_cost_centers(bound[0])
        ),
        "print_key": "kiosk-" + secrets.token_hex(12),
    }


def _render(
    form: PriceForm,
    services: list[ServiceChoice],
    extras: list[ExtraChoice],
    result: Quote | None = None,
    status: int = 200,
    print_error: str | None = None,
) -> tuple[str, int]:
    return render_price_page(
        "kiosk/price.html",
        form,
        services,
        extras,
        result,
        status,
        keypad=KEYPAD,
        print_error=print_error,
        **_print_choices(result),
    )


@bp.get("/price")
def price() -> tuple[str, int]:
    services, extras = _service_choices()
    form = PriceForm(
        service=services[0].value if services else "",
        date=today(current_postroom().clock).isoformat(),
    )
    return _render(form, services, extras)


@bp.post("/price")
def price_piece() -> tuple[str, int]:
    services, extras = _service_choices()
    form = PriceForm(request.form)
    # a kiosk prices for today, by the installation's clock
    form.date.data = today(current_postroom().clock).isoformat()
    key = request.form.get("key")
    if isinstance(key, str) and key:
        form.weight.data = _press(form.weight.data or "", key[:8])
        return _render(form, services, extras)
    quoted = quote_form(form, services)
    if quoted is None:
        return _render(form, services, extras, status=422)
    return _render(form, services, extras, quoted[0])


def _sign_in_page(status: int = 200, error: str | None = None) -> tuple[str, int]:
    bound = _account()
    if bound is None:
        return render_template("kiosk/not_printing.html"), 503
    return render_template(
        "kiosk/sign_in.html",
        operators=current_postroom().accounts.operators(bound[0]),
        error=error,
        signed_out=g.get("kiosk_signed_out", False),
    ), status


@bp.get("/sign-in")
def sign_in() -> tuple[str, int]:
    return _sign_in_page()


@bp.post("/sign-in")
def sign_in_submit() -> ResponseReturnValue:
    bound = _account()
    if bound is None:
        return render_template("kiosk/not_printing.html"), 503
    postroom = current_postroom()
    chosen = request.form.get("operator", "")
    # a tampered choice is an unknown operator: the same answer and throttle as a wrong PIN
    operator_id = int(chosen) if chosen.isascii() and chosen.isdigit() and len(chosen) < 10 else 0
    pin = request.form.get("pin", "")[:MAX_PIN_TEXT]
    try:
        signed_in = postroom.accounts.sign_in_operator(
            bound[0], operator_id, pin, kiosk=client_address()
        )
    except Locked as error:
        seconds = error.details.get("retry_after", 1)
        page, status = _sign_in_page(
            429, _("Too many wrong PINs. Try again in %(seconds)s seconds.", seconds=seconds)
        )
        return page, status, {"Retry-After": str(seconds)}
    except Unauthenticated:
        return _sign_in_page(401, _("Unknown operator or wrong PIN."))
    previous = session.get(SESSION_OPERATOR)
    if isinstance(previous, str):
        postroom.accounts.sign_out_operator(previous)
    _fresh_session()
    session[SESSION_OPERATOR] = signed_in.token
    return redirect(url_for("kiosk.price"), 303)


@bp.post("/sign-out")
def sign_out() -> ResponseReturnValue:
    token = session.get(SESSION_OPERATOR)
    if isinstance(token, str):
        current_postroom().accounts.sign_out_operator(token)
    _fresh_session()
    return redirect(url_for("kiosk.sign_in"), 303)


@bp.post("/print")
def print_postage() -> ResponseReturnValue:
    bound = _account()
    if bound is None:
        return render_template("kiosk/not_printing.html"), 503
    operator = _operator()
    if operator is None:
        return _sign_in_page(401, _("Sign in to print postage."))
    key = request.form.get("idempotency_key", "").strip()
    if not key:
        # without its key a repeated touch (or a replayed form) would print again
        return error_response(
            400,
            "idempotency_key_required",
            _("This form is incomplete: price the piece again, then print."),
        )
    account, origin_zip = bound
    services, extras = _service_choices()
    form = PriceForm(request.form)
    form.date.data = today(current_postroom().clock).isoformat()
    # any loaded service parses: one this kiosk cannot print (a stale page's) is refused
    # by the meters with its real reason, not as an unknown choice
    quoted = quote_form(form, service_choices()[0])
    if quoted is None:
        return _render(form, services, extras, status=422)
    result, (carrier, service, piece, _day, _origin, _destination) = quoted
    center = request.form.get("cost_center") or None
    try:
        operator.check_cost_center(center)
        printed = current_postroom().meters.print_postage(
            account,
            carrier,
            service,
            piece.weight,
            form.extra_codes,
            center,
            key,
            origin_zip=origin_zip,
            printed_by=operator.label,
        )
    except PostroomError as error:
        return _render(form, services, extras, result, error.http_status, print_error(error))
    current_postroom().kiosks.log_printed(account, printed, operator, PORTAL_KIOSK)
    pieces = [p for p in session.get(SESSION_PIECES, []) if p != [printed.serial, printed.piece]]
    session[SESSION_PIECES] = [*pieces, [printed.serial, printed.piece]][-MAX_SESSION_PIECES:]
    return redirect(url_for("kiosk.printed", serial=printed.serial, piece=printed.piece), 303)


def _mine(serial: str, piece: int) -> PrintedPostage:
    bound = _account()
    if bound is None or [serial, piece] not in session.get(SESSION_PIECES, []):
        abort(404)
    return current_postroom().meters.printed_postage(bound[0], serial, piece)


@bp.get("/printed/<serial>/<int:piece>")
def printed(serial: str, piece: int) -> str:
    done = _mine(serial, piece)
    return render_template(
        "kiosk/printed.html", printed=done, postage=done.postage.format(money_locale())
    )


@bp.get("/printed/<serial>/<int:piece>/indicium.png")
def printed_indicium(serial: str, piece: int) -> Response:
    return Response(_mine(serial, piece).render("png"), mimetype="image/png")


__all__ = ["bp"]
