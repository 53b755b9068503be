"""``/api/v1/postage``: print postage on the account's virtual meter (PC postage).

``POST /postage`` quotes, charges and signs one piece (``pr.meters.print_postage``):
201 with the signed record, the piece number, the postage and links to the indicium
as PNG and SVG; the same ``idempotency_key`` again answers the same piece (200) and
never charges twice. ``GET /postage/{serial}/{piece}`` and its ``indicium.png`` /
``indicium.svg`` fetch a printed piece; another account's piece answers 404.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, url_for

from postroom.core.meters.virtual import PrintedPostage
from postroom.frontends.serialise.meters import printed_postage_json
from postroom.frontends.web.api_rates import weight_field
from postroom.frontends.web.auth import current_account
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.requestbody import request_object

bp = Blueprint("api_postage", __name__, url_prefix="/api/v1/postage")

MEDIA = {"png": "image/png", "svg": "image/svg+xml"}


def _json(printed: PrintedPostage) -> dict[str, Any]:
    data = printed_postage_json(printed)
    data["links"] = {
        name: url_for(f"api_postage.{endpoint}", serial=printed.serial, piece=printed.piece)
        for name, endpoint in (
            ("self", "show"),
            ("indicium_png", "indicium_png"),
            ("indicium_svg", "indicium_svg"),
        )
    }
    return data


@bp.post("")
def print_postage() -> tuple[Response, int]:
    data = request_object()
    printed = current_postroom().meters.print_postage(
        current_account().number,
        data["carrier"],
        data["service"],
        weight_field(data),
        data.get("extras", []),
        data.get("cost_center"),
        data["idempotency_key"],
        origin_zip=data["origin_zip"],
    )
    return jsonify(_json(printed)), 201 if printed.created else 200


def _printed(serial: str, piece: int) -> PrintedPostage:
    return current_postroom().meters.printed_postage(current_account().number, serial, piece)


@bp.get("/<serial>/<int:piece>")
def show(serial: str, piece: int) -> Response:
    return jsonify(_json(_printed(serial, piece)))


def _image(serial: str, piece: int, fmt: str) -> Response:
    return Response(
        _printed(serial, piece).render(fmt),
        mimetype=MEDIA[fmt],
        headers={"Content-Disposition": f'inline; filename="{serial}-{piece}.{fmt}"'},
    )


@bp.get("/<serial>/<int:piece>/indicium.png")
def indicium_png(serial: str, piece: int) -> Response:
    return _image(serial, piece, "png")


@bp.get("/<serial>/<int:piece>/indicium.svg")
def indicium_svg(serial: str, piece: int) -> Response:
    return _image(serial, piece, "svg")
