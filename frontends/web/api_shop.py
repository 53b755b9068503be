"""The shop under /api/v1: the catalogue, the caller's cart and orders (a customer's
API key or portal session), and staff moving an order on (a staff portal session).

Every order is looked up through the caller's account, so another account's order
answers 404 exactly like a missing one.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from postroom.core.shop.service import ShopService
from postroom.frontends.serialise.shop import cart_json, entry_json, order_json
from postroom.frontends.web.api_vault import _int_arg
from postroom.frontends.web.auth import current_account, staff_session_required
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.requestbody import request_object
from postroom.frontends.web.signin import current_user

bp = Blueprint("api_shop", __name__, url_prefix="/api/v1")

#: Staff who move orders on: the warehouse's agents and their supervisors, and admins.
ORDER_STAFF = ("staff:agent", "staff:supervisor", "staff:admin")


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
    limit = _int_arg("limit", 100)
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


@bp.post("/orders/<number>/status")
@staff_session_required(*ORDER_STAFF)
def set_status(number: str) -> Response:
    data = request_object()
    staff = current_user()
    assert staff is not None  # staff_session_required
    order = _shop().set_status(
        number,
        data["status"],
        staff=staff.name or staff.email,
        tracking_number=data.get("tracking_number"),
        note=data.get("note", ""),
    )
    return jsonify(order_json(order))
