"""The JSON object a /api/v1 request sends, or a clear 400/413/415/422 error.

This is the one place the API parses a body, so its limits hold for every route: a body of at
most ``MAX_BODY_BYTES``, nested at most ``MAX_DEPTH`` deep (Python's parser would otherwise
recurse until RecursionError), and numbers the project can hold. JSON itself has one number
type, so an integral literal such as ``30.0`` or ``1e3`` is read as the integer it denotes
(as JSON Schema does); any other fraction stays a float, which amount fields refuse.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from flask import request

from postroom.core.errors import PostroomError, ValidationError

#: The largest body any /api/v1 route needs (a sync report of a busy meter) with room to spare.
MAX_BODY_BYTES: Final = 1024 * 1024
#: Nesting any of our documents needs is below 10; 32 leaves room and stays far from recursion.
MAX_DEPTH: Final = 32
#: Digits in a JSON number: far more than any amount, count or id (fields check their own
#: ranges), far below the int/str conversion limit that thousands of digits would hit.
MAX_NUMBER_DIGITS: Final = 100

_STRING_RE: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET: Final = re.compile(r"[^\[\]{}]+")


class BadRequest(PostroomError):
    code = "bad_request"
    http_status = 400


class PayloadTooLarge(PostroomError):
    code = "payload_too_large"
    http_status = 413


class UnsupportedMediaType(PostroomError):
    code = "unsupported_media_type"
    http_status = 415


def _too_deep(text: str) -> bool:
    """Whether brackets outside strings nest deeper than MAX_DEPTH (malformed input aside,
    which the parser then refuses)."""
    brackets = _NOT_BRACKET.sub("", _STRING_RE.sub("", text))
    depth = 0
    for char in brackets:
        if char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        else:
            depth -= 1
    return False


def _number_too_long(literal: str) -> PostroomError:
    return ValidationError(
        f"a number has more than {MAX_NUMBER_DIGITS} digits", code="number_too_long"
    )


def _parse_int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise _number_too_long(literal)
    return int(literal)


def _parse_float(literal: str) -> int | float:
    if len(literal) > MAX_NUMBER_DIGITS + 8:  # digits plus sign, point and exponent
        raise _number_too_long(literal)
    try:
        exact = Decimal(literal)
    except InvalidOperation:  # pragma: no cover - the JSON grammar already checked it
        raise BadRequest("the body is not valid JSON", code="invalid_json") from None
    if exact.adjusted() < MAX_NUMBER_DIGITS and exact == exact.to_integral_value():
        return int(exact)
    # A fraction or an exponent past the limit stays a float (1e999 is inf): fields that
    # want an integer or an amount refuse floats, and ignored fields may hold any number.
    return float(literal)


def _refuse_constant(name: str) -> Any:
    raise BadRequest(f"{name} is not JSON", code="invalid_json")


def parse_json(raw: bytes) -> Any:
    """Any JSON value within the limits above; a PostroomError otherwise (never another error)."""
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8", code="invalid_json") from None
    if _too_deep(text):
        raise ValidationError(
            f"the body nests deeper than {MAX_DEPTH} levels", code="json_too_deep"
        )
    try:
        return json.loads(
            text,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_refuse_constant,
        )
    except ValueError:
        raise BadRequest("the body is not valid JSON", code="invalid_json") from None


def json_body() -> Any:
    """The request's JSON value (any type), checked against the limits."""
    if not request.is_json:
        raise UnsupportedMediaType(
            "send a JSON body with 'Content-Type: application/json'", code="json_required"
        )
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body is larger than {MAX_BODY_BYTES} bytes")
    return parse_json(request.get_data(cache=True))


def json_object() -> dict[str, Any]:
    data = json_body()
    if not isinstance(data, dict):
        raise ValidationError("the body must be a JSON object", code="invalid_body")
    return data
