"""The tracking JSON API under /api/v1/shipments (docs/tracking.md).

Every route needs the account's API key (or a portal session with its CSRF token) and
reaches only that account's shipments: another account's shipment answers 404
``shipment_not_found`` like a missing one.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask_babel import get_locale

from postroom.core.errors import NotFound, ValidationError
from postroom.core.money import Money
from postroom.core.tracking.model import Customs, Parties, parse_status
from postroom.core.tracking.service import TrackingService
from postroom.frontends.serialise.tracking import scan_json, shipment_json
from postroom.frontends.web.auth import current_account
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.requestbody import request_object

bp = Blueprint("api_tracking", __name__, url_prefix="/api/v1/shipments")


def _tracking() -> TrackingService:
    return current_postroom().tracking


def _language() -> str:
    locale = get_locale()
    return "fr" if locale is not None and locale.language == "fr" else "en"


def _customs(data: Any) -> Customs | None:
    if data is None:
        return None
    value = data["value"]
    amount = Money.of(value["amount"], value["currency"])
    return Customs(data["contents"], tuple(data.get("hs_codes", ())), amount)


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise ValidationError(
            "mailed_on is a date, YYYY-MM-DD", code="invalid_mailed_on"
        ) from error


def _id(text: str) -> int:
    """A shipment id from the path; anything else is a shipment nobody has."""
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise NotFound(f"no shipment {text[:40]!r}", code="shipment_not_found")
    return int(text)


@bp.post("")
def create_shipment() -> tuple[Response, int]:
    data = request_object()
    shipment, created = _tracking().follow(
        current_account().number,
        data["number"],
        carrier=data.get("carrier"),
        service=data.get("service", ""),
        parties=Parties(
            data.get("sender", ""),
            data.get("recipient", ""),
            data.get("origin", ""),
            data.get("destination", ""),
        ),
        mailed_on=_day(data.get("mailed_on")),
        reference=data.get("reference", ""),
        customs=_customs(data.get("customs")),
        auto_trace=data.get("auto_trace", False),
    )
    return jsonify(shipment_json(shipment, _language())), 201 if created else 200


@bp.get("")
def list_shipments() -> Response:
    status = request.args.get("status")
    try:
        limit = int(request.args.get("limit", "50"))
        offset = int(request.args.get("offset", "0"))
    except ValueError as error:
        raise ValidationError("limit and offset are whole numbers", code="invalid_page") from error
    found = _tracking().list(
        current_account().number,
        status=None if status is None else parse_status(status),
        limit=limit,
        offset=offset,
    )
    return jsonify({"items": [shipment_json(s, _language()) for s in found]})


@bp.get("/<shipment_id>")
def get_shipment(shipment_id: str) -> Response:
    return jsonify(
        shipment_json(_tracking().get(current_account().number, _id(shipment_id)), _language())
    )


@bp.get("/<shipment_id>/events")
def shipment_events(shipment_id: str) -> Response:
    scans = _tracking().scans(current_account().number, _id(shipment_id))
    return jsonify({"items": [scan_json(scan) for scan in scans]})


@bp.post("/<shipment_id>/refresh")
def refresh_shipment(shipment_id: str) -> Response:
    shipment = _tracking().refresh(current_account().number, _id(shipment_id))
    return jsonify(shipment_json(shipment, _language()))


@bp.post("/<shipment_id>/support")
def request_support(shipment_id: str) -> tuple[Response, int]:
    data = request_object()
    reference = _tracking().request_support(
        current_account().number,
        _id(shipment_id),
        data["kind"],
        note=data.get("note", ""),
        requested_by=f"api:{current_account().number}",
    )
    return jsonify({"reference": reference, "kind": data["kind"]}), 201
