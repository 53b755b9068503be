"""The shop under /api/v1: the catalogue, the caller's cart and orders (a customer's
API key or portal session), and staff's warehouse work with their portal session: moving
an order on, changing an item's stock (recorded with who and why), and deciding on
uploaded ad slogans.

Every order is looked up through the caller's account, so another account's order
answers 404 exactly like a missing one.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from postroom.core.errors import NotFound, ValidationError
from postroom.core.shop.service import ShopService
from postroom.frontends.serialise.shop import (
    cart_json,
    entry_json,
    item_json,
    order_json,
    slogan_json,
    stock_move_json,
)
from postroom.frontends.web.arguments import int_arg
from postroom.frontends.web.auth import current_account, staff_session_required
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.requestbody import request_object
from postroom.frontends.web.signin import current_user

bp = Blueprint("api_shop", __name__, url_prefix="/api/v1")

#: Staff who move orders on and keep the stock: the warehouse's agents and their
#: supervisors, and admins. They also list uploaded slogans and look at them.
ORDER_STAFF = ("staff:agent", "staff:supervisor", "staff:admin")
#: Staff who decide what a customer's meter prints on mail: supervisors and admins.
SLOGAN_REVIEWERS = ("staff:supervisor", "staff:admin")
#: What a slogan's graphic may do in the browser that shows it to staff: nothing (an
#: SVG is rebuilt from an allow-list already; this keeps a missed case inert).
GRAPHIC_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


def _shop() -> ShopService:
    return current_postroom().shop


def _number() -> str:
    return current_account().number


@bp.get("/catalog")
def catalog() -> Response:
    return jsonify({"items": [entry_json(e) for e in _shop().catalog(_number())]})


@bp.get("/cart")
def cart() -> Response:
    return jsonify(cart_json(_shop().cart(_number())))


@bp.post("/cart/lines")
def add_to_cart() -> Response:
    data = request_object()
    return jsonify(cart_json(_shop().add_to_cart(_number(), data["sku"], data["quantity"])))


@bp.put("/cart/lines/<sku>")
def set_quantity(sku: str) -> Response:
    data = request_object()
    return jsonify(cart_json(_shop().set_quantity(_number(), sku, data["quantity"])))


@bp.delete("/cart/lines/<sku>")
def remove_from_cart(sku: str) -> Response:
    return jsonify(cart_json(_shop().remove_from_cart(_number(), sku)))


@bp.get("/orders")
def orders() -> Response:
    limit = int_arg("limit", 100)
    return jsonify({"items": [order_json(o) for o in _shop().orders(_number(), limit=limit)]})


@bp.post("/orders")
def checkout() -> tuple[Response, int]:
    data = request_object()
    order = _shop().checkout(
        _number(),
        data["id"],
        method=data["payment_method"],
        instrument_id=data.get("instrument_id"),
    )
    return jsonify(order_json(order)), 200 if order.replayed else 201


@bp.get("/orders/<number>")
def order(number: str) -> Response:
    return jsonify(order_json(_shop().order(_number(), number)))


@bp.post("/orders/<number>/payment")
def pay(number: str) -> Response:
    data = request_object()
    return jsonify(order_json(_shop().pay(_number(), number, data["instrument_id"])))


@bp.post("/orders/<number>/cancel")
def cancel(number: str) -> Response:
    return jsonify(order_json(_shop().cancel_unpaid(_number(), number)))


@bp.post("/orders/<number>/reorder")
def reorder(number: str) -> Response:
    done = _shop().reorder(_number(), number)
    return jsonify({"cart": cart_json(_shop().cart(_number())), "skipped": list(done.skipped)})


def _staff() -> str:
    """Who the signed-in staff member is, as the audit records them."""
    staff = current_user()
    assert staff is not None  # staff_session_required
    return staff.name or staff.email


@bp.post("/orders/<number>/status")
@staff_session_required(*ORDER_STAFF)
def set_status(number: str) -> Response:
    data = request_object()
    order = _shop().set_status(
        number,
        data["status"],
        staff=_staff(),
        tracking_number=data.get("tracking_number"),
        note=data.get("note", ""),
    )
    return jsonify(order_json(order))


@bp.post("/catalog/<sku>/stock")
@staff_session_required(*ORDER_STAFF)
def adjust_stock(sku: str) -> Response:
    data = request_object()
    item = _shop().adjust_stock(sku, data["change"], staff=_staff(), reason=data["reason"])
    return jsonify(item_json(item))


@bp.get("/catalog/<sku>/stock-moves")
@staff_session_required(*ORDER_STAFF)
def stock_moves(sku: str) -> Response:
    moves = _shop().stock_moves(sku, limit=int_arg("limit", 100))
    return jsonify({"items": [stock_move_json(m) for m in moves]})


@bp.get("/slogans")
@staff_session_required(*ORDER_STAFF)
def slogans() -> Response:
    addons = _shop().addons
    which = request.args.get("status", "pending")
    if which not in ("pending", "all"):
        raise ValidationError("status is pending or all", code="invalid_status")
    found = addons.pending_slogans() if which == "pending" else addons.all_slogans()
    return jsonify({"items": [slogan_json(o) for o in found]})


@bp.get("/slogans/<number>/graphic")
@staff_session_required(*ORDER_STAFF)
def slogan_graphic(number: str) -> Response:
    order, data = _shop().addons.slogan_graphic(number)
    if order.content_type is None:  # a library slogan is a text, not a graphic
        raise NotFound(f"slogan {order.number} has no graphic", code="slogan_not_found")
    response = Response(data, mimetype=order.content_type.value)
    response.headers["Content-Security-Policy"] = GRAPHIC_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.post("/slogans/<number>/decision")
@staff_session_required(*SLOGAN_REVIEWERS)
def decide_slogan(number: str) -> Response:
    data = request_object()
    addons = _shop().addons
    if data["decision"] == "approve":
        done = addons.approve_slogan(number, staff=_staff())
    else:
        done = addons.reject_slogan(number, staff=_staff(), reason=data.get("reason", ""))
    return jsonify(slogan_json(done))
