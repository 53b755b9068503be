"""``/api/v1/rates``: quote a piece, compare services, list the published tables.

The request bodies mirror ``postroom rates quote|compare``; the responses are the CLI's
``--json`` output. The OpenAPI document's QuoteRequest and CompareRequest check the body's
shape (requestbody.py); the rates domain reads weights, sizes and values. Every problem
with the body is a 422 with a stable code.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from flask import Blueprint, Response, jsonify, request

from postroom.core.errors import NotFound, ValidationError
from postroom.core.money import Money
from postroom.core.rates.model import Piece
from postroom.core.units import Dimensions, Weight
from postroom.frontends.serialise.rates import comparison_json, quote_json
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.jsonbody import BadRequest, UnsupportedMediaType, json_body
from postroom.frontends.web.requestbody import check_body

bp = Blueprint("api_rates", __name__, url_prefix="/api/v1/rates")


def _body() -> Mapping[str, Any]:
    """The body, checked against the document's QuoteRequest or CompareRequest."""
    try:
        data = json_body()
    except (BadRequest, UnsupportedMediaType):
        data = None  # the rates API has always answered these with its documented 422
    if not isinstance(data, dict):
        raise ValidationError(
            "send a JSON object (Content-Type: application/json)", code="invalid_json"
        )
    check_body(data)
    return data


def _text(data: Mapping[str, Any], field: str) -> str | None:
    value = data.get(field)
    return None if value is None else str(value).strip()


def weight_field(data: Mapping[str, Any]) -> Weight:
    """The document's WeightInput (text or value and unit) as a positive Weight."""
    value = data["weight"]
    if isinstance(value, str):
        weight = Weight.parse(value)
    else:
        weight = Weight.of(value["value"], value["unit"].strip().lower())
    return weight.require_positive()


def _date(data: Mapping[str, Any]) -> date | None:
    text = _text(data, "date")
    return None if text is None else date.fromisoformat(text)


def _codes(data: Mapping[str, Any], field: str) -> list[str]:
    return [code.strip() for code in data.get(field) or []]


def _piece(data: Mapping[str, Any]) -> Piece:
    dimensions = _text(data, "dimensions")
    declared = _text(data, "declared_value")
    return Piece(
        weight_field(data),
        Dimensions.parse(dimensions) if dimensions else None,
        machinable=not data.get("nonmachinable", False),
        declared_value=Money.parse(declared, "USD") if declared else None,
    )


def _zips(data: Mapping[str, Any]) -> tuple[str | None, str | None]:
    origin, destination = _text(data, "from"), _text(data, "to")
    if (origin is None) != (destination is None):
        raise ValidationError("give both 'from' and 'to'", code="invalid_zip")
    return origin, destination


def _as_input_error(error: NotFound) -> ValidationError:
    """An unknown carrier or service in a body is bad input (422), not a missing URL."""
    return ValidationError(error.message, code=error.code, **error.details)


@bp.post("/quote")
def quote() -> Response:
    data = _body()
    carrier, service = data["carrier"].strip(), data["service"].strip()
    piece = _piece(data)
    on = _date(data)
    extras = _codes(data, "extras")
    origin, destination = _zips(data)
    zone = _text(data, "zone")
    try:
        result = current_postroom().rates.quote(
            piece,
            carrier,
            service,
            extras,
            on=on,
            zone=zone,
            origin=origin,
            destination=destination,
        )
    except NotFound as error:
        raise _as_input_error(error) from error
    return jsonify(quote_json(result))


@bp.post("/compare")
def compare() -> Response:
    data = _body()
    piece = _piece(data)
    on = _date(data)
    extras = _codes(data, "extras")
    origin, destination = _zips(data)
    carriers = _codes(data, "carriers")
    try:
        result = current_postroom().rates.compare(
            piece,
            extras,
            on=on,
            origin=origin,
            destination=destination,
            carriers=carriers or None,
        )
    except NotFound as error:
        raise _as_input_error(error) from error
    return jsonify(comparison_json(result))


@bp.get("/tables")
def tables() -> Response:
    carrier = request.args.get("carrier") or None
    service = request.args.get("service") or None
    rows = current_postroom().rates.list_tables(carrier, service)
    return jsonify(
        {
            "tables": [
                {
                    "carrier": t.carrier,
                    "service": t.service,
                    "name": t.name,
                    "currency": t.currency,
                    "effective_from": t.effective_from.isoformat(),
                    "effective_until": (
                        t.effective_until.isoformat() if t.effective_until else None
                    ),
                    "digest": t.digest,
                    "source": {"document": t.source_document, "url": t.source_url},
                    "origin": t.origin,
                }
                for t in rows
            ]
        }
    )
