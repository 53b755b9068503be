"""``/api/v1/rates``: quote a piece, compare services, list the published tables.

The request bodies mirror ``postroom rates quote|compare``; the responses are the CLI's
``--json`` output. Every problem with the body is a 422 with the domain's stable code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from flask import Blueprint, Response, jsonify, request

from postroom.core.errors import NotFound, ValidationError
from postroom.core.money import Money
from postroom.core.rates.model import Piece
from postroom.core.units import Dimensions, Weight
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.jsonbody import BadRequest, UnsupportedMediaType, json_body

_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

bp = Blueprint("api_rates", __name__, url_prefix="/api/v1/rates")

QUOTE_FIELDS = frozenset(
    {
        "carrier",
        "service",
        "weight",
        "dimensions",
        "date",
        "extras",
        "from",
        "to",
        "zone",
        "nonmachinable",
        "declared_value",
    }
)
COMPARE_FIELDS = frozenset({"weight", "dimensions", "date", "extras", "from", "to", "carriers"})


def _invalid(message: str, field: str, code: str = "invalid_request") -> ValidationError:
    return ValidationError(message, code=code, field=field)


def _body(allowed: frozenset[str]) -> Mapping[str, Any]:
    try:
        data = json_body()
    except (BadRequest, UnsupportedMediaType):
        data = None  # the rates API has always answered these with its documented 422
    if not isinstance(data, dict):
        raise ValidationError(
            "send a JSON object (Content-Type: application/json)", code="invalid_json"
        )
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValidationError(
            f"unknown field(s): {', '.join(unknown)}", code="unknown_field", fields=unknown
        )
    return data


def _text(data: Mapping[str, Any], field: str, *, required: bool = False) -> str | None:
    value = data.get(field)
    if value is None:
        if required:
            raise _invalid(f"{field!r} is required", field, "missing_field")
        return None
    if not isinstance(value, str) or not value.strip():
        raise _invalid(f"{field!r} must be a non-empty string", field)
    return value.strip()


def weight_field(data: Mapping[str, Any]) -> Weight:
    value = data.get("weight")
    if value is None:
        raise _invalid("'weight' is required", "weight", "missing_field")
    if isinstance(value, str):
        weight = Weight.parse(value)
    elif isinstance(value, dict) and set(value) == {"value", "unit"}:
        if not isinstance(value["unit"], str):
            raise _invalid(
                "weight 'unit' must be a string (oz, lb, g, kg)", "weight", "unknown_unit"
            )
        weight = Weight.of(value["value"], value["unit"].strip().lower())
    else:
        raise _invalid(
            '\'weight\' is a string like "1.2oz" or {"value": "1.2", "unit": "oz"}',
            "weight",
            "invalid_weight",
        )
    return weight.require_positive()


def _date(data: Mapping[str, Any]) -> date | None:
    text = _text(data, "date")
    if text is None:
        return None
    try:
        if not _DATE_RE.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise _invalid(f"'date' must be YYYY-MM-DD, got {text!r}", "date", "invalid_date") from None


def _codes(data: Mapping[str, Any], field: str) -> list[str]:
    value = data.get(field)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _invalid(f"{field!r} must be a list of codes", field)
    return [v.strip() for v in value]


def _piece(data: Mapping[str, Any]) -> Piece:
    dimensions = _text(data, "dimensions")
    declared = _text(data, "declared_value")
    nonmachinable = data.get("nonmachinable", False)
    if not isinstance(nonmachinable, bool):
        raise _invalid("'nonmachinable' must be true or false", "nonmachinable")
    return Piece(
        weight_field(data),
        Dimensions.parse(dimensions) if dimensions else None,
        machinable=not nonmachinable,
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
    data = _body(QUOTE_FIELDS)
    carrier = _text(data, "carrier", required=True)
    service = _text(data, "service", required=True)
    assert carrier is not None
    assert service is not None
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
    return jsonify(result.to_json())


@bp.post("/compare")
def compare() -> Response:
    data = _body(COMPARE_FIELDS)
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
    return jsonify(result.to_json())


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
