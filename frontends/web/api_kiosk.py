"""``/api/v1/kiosk``: what a mailroom terminal (``postroom kiosk serve --server``) asks the
data center, authenticated by its kiosk key (``Authorization: Bearer prt_...``).

The key names the customer account; everything answers for that account alone. An
operator signs in with their PIN (``POST /kiosk/session``, throttled per operator and
per terminal key); the token it answers goes in the ``X-Kiosk-Operator`` header of the
calls that need an operator (printing) and is refused once idle longer than
``POSTROOM_KIOSK_IDLE_SECONDS``. Another account's piece answers 404.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response, jsonify, request

from postroom.core.accounts.model import KioskOperator
from postroom.core.errors import Unauthenticated
from postroom.core.kiosks.meter_pieces import MeterPrint
from postroom.core.rates.model import Piece
from postroom.core.units import Dimensions
from postroom.frontends.serialise import utc
from postroom.frontends.serialise.accounts import account_json, kiosk_operator_json
from postroom.frontends.serialise.kiosks import (
    kiosk_key_json,
    kiosk_piece_from_json,
    kiosk_piece_json,
    meter_piece_json,
    notice_json,
    offers_json,
    piece_report_json,
    table_extras,
)
from postroom.frontends.serialise.meters import printed_postage_json
from postroom.frontends.web.api_rates import weight_field
from postroom.frontends.web.auth import current_account, current_kiosk_key, kiosk_key_required
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.requestbody import request_object

bp = Blueprint("api_kiosk", __name__, url_prefix="/api/v1/kiosk")

OPERATOR_HEADER = "X-Kiosk-Operator"


def _operator() -> KioskOperator:
    """The operator signed in at this terminal (``X-Kiosk-Operator``), marked active now."""
    token = request.headers.get(OPERATOR_HEADER, "").strip()
    if not token:
        raise Unauthenticated(
            f"sign an operator in and send their token as {OPERATOR_HEADER}",
            code="kiosk_signed_out",
        )
    postroom = current_postroom()
    idle = timedelta(seconds=postroom.config.kiosk_idle_seconds)
    return postroom.accounts.kiosk_operator(current_account().number, token[:200], idle=idle)


@bp.get("")
@kiosk_key_required
def terminal() -> Response:
    postroom = current_postroom()
    number = current_account().number
    return jsonify(
        {
            "account": account_json(current_account()),
            "key": kiosk_key_json(current_kiosk_key()),
            "cost_centers": list(postroom.meters.print_cost_centers(number)),
            "operators": [kiosk_operator_json(o) for o in postroom.accounts.operators(number)],
            "idle_seconds": postroom.config.kiosk_idle_seconds,
        }
    )


@bp.post("/offers")
@kiosk_key_required
def offers() -> Response:
    data = request_object()
    postroom = current_postroom()
    dimensions = data.get("dimensions")
    found = postroom.kiosks.offers(
        current_account().number,
        Piece(weight_field(data), Dimensions.parse(dimensions) if dimensions else None),
        data.get("extras", []),
        shape=data.get("shape"),
    )
    return jsonify(offers_json(found, lambda quote: table_extras(postroom.rates, quote)))


@bp.post("/session")
@kiosk_key_required
def sign_in() -> tuple[Response, int]:
    data = request_object()
    signed_in = current_postroom().accounts.sign_in_operator(
        current_account().number,
        data["operator"],
        data["pin"],
        kiosk=f"key:{current_kiosk_key().prefix}",
    )
    return jsonify(
        {"token": signed_in.token, "operator": kiosk_operator_json(signed_in.operator)}
    ), 201


@bp.post("/session/badge")
@kiosk_key_required
def sign_in_badge() -> tuple[Response, int]:
    """Sign in the operator whose badge the terminal's reader typed (throttled per
    terminal key; a badge of another account is ``badge_other_account``)."""
    data = request_object()
    signed_in = current_postroom().accounts.sign_in_operator_by_badge(
        current_account().number, data["badge"], kiosk=f"key:{current_kiosk_key().prefix}"
    )
    return jsonify(
        {"token": signed_in.token, "operator": kiosk_operator_json(signed_in.operator)}
    ), 201


@bp.get("/session")
@kiosk_key_required
def signed_in_operator() -> Response:
    operator = _operator()
    centers = current_postroom().kiosks.cost_centers(current_account().number)
    return jsonify(
        {
            "operator": {
                **kiosk_operator_json(operator),
                # what the terminal offers: the account's, narrowed to the operator's
                "cost_centers": list(operator.usable_cost_centers(centers)),
            }
        }
    )


@bp.delete("/session")
@kiosk_key_required
def sign_out() -> tuple[str, int]:
    token = request.headers.get(OPERATOR_HEADER, "").strip()
    if token:
        current_postroom().accounts.sign_out_operator(token[:200])
    return "", 204


@bp.post("/postage")
@kiosk_key_required
def print_postage() -> tuple[Response, int]:
    data = request_object()
    operator = _operator()
    operator.check_cost_center(data.get("cost_center"))
    printed = current_postroom().meters.print_postage(
        current_account().number,
        data["carrier"],
        data["service"],
        weight_field(data),
        data.get("extras", []),
        data.get("cost_center"),
        data["idempotency_key"],
        origin_zip=data["origin_zip"],
        printed_by=operator.label,
    )
    current_postroom().kiosks.log_printed(
        current_account().number, printed, operator, current_kiosk_key().label
    )
    return jsonify(printed_postage_json(printed)), 201 if printed.created else 200


@bp.get("/postage/<serial>/<int:piece>/indicium.png")
@kiosk_key_required
def indicium_png(serial: str, piece: int) -> Response:
    printed = current_postroom().meters.printed_postage(current_account().number, serial, piece)
    return Response(printed.render("png"), mimetype="image/png")


@bp.post("/meter-pieces")
@kiosk_key_required
def record_meter_piece() -> tuple[Response, int]:
    """Who may: a terminal of the account (its kiosk key) with a signed-in operator; the
    piece must be signed by a meter registered to that account."""
    data = request_object()
    operator = _operator()
    printed = MeterPrint(
        bytes.fromhex(data["record"]),
        bytes.fromhex(data["signature"]),
        data["carrier"],
        data.get("cost_center"),
        data["request_id"],
    )
    logged, created = current_postroom().kiosk_pieces.record(
        current_account().number, printed, operator.id, operator.name, current_kiosk_key().label
    )
    return jsonify(meter_piece_json(logged)), 201 if created else 200


@bp.post("/misprints")
@kiosk_key_required
def flag_misprint() -> Response:
    """Who may: a terminal of the account with a signed-in operator; another account's
    piece answers 404."""
    data = request_object()
    operator = _operator()
    flag = current_postroom().kiosk_pieces.flag_misprint(
        current_account().number, data["serial"], data["piece"], operator.label
    )
    return jsonify(
        {
            "serial": flag.serial,
            "piece": flag.piece,
            "status": flag.status,
            "refund_id": flag.refund_id,
        }
    )


@bp.post("/pieces")
@kiosk_key_required
def log_piece() -> tuple[Response, int]:
    """A piece the terminal's own meter printed (charged on the device), for the
    reports; the same piece again answers 200 and logs nothing."""
    piece = kiosk_piece_from_json(request_object(), current_kiosk_key().label)
    created = current_postroom().kiosks.log_piece(current_account().number, piece)
    return jsonify(kiosk_piece_json(piece)), 201 if created else 200


@bp.get("/report")
@kiosk_key_required
def report() -> Response:
    """Today's pieces of this terminal, by cost centre and by operator."""
    found = current_postroom().kiosks.report(
        current_account().number, terminal=current_kiosk_key().label
    )
    return jsonify(piece_report_json(found))


@bp.get("/notices")
@kiosk_key_required
def notices() -> Response:
    found = current_postroom().kiosks.notices(current_account().number)
    return jsonify({"notices": [notice_json(notice) for notice in found]})


@bp.get("/tracking/<number>")
@kiosk_key_required
def track(number: str) -> Response:
    """A tracking number's public status (what anyone may look up)."""
    found = current_postroom().tracking.lookup(number[:64])
    return jsonify(
        {
            "number": found.number,
            "carrier": found.carrier,
            "status": found.status.value,
            "delivered_at": utc(found.delivered_at),
        }
    )


@bp.post("/cases")
@kiosk_key_required
def open_case() -> tuple[Response, int]:
    """A support case from the terminal (idempotent by ``idempotency_key``: a queued
    case sent again answers the same case)."""
    data = request_object()
    number = current_postroom().kiosks.open_case(
        current_account().number,
        data["operator_name"],
        data["subject"],
        data["description"],
        data["idempotency_key"],
    )
    return jsonify({"number": number}), 201
