"""The JSON object a /api/v1 request sends, or a clear 400/415/422 error."""

from __future__ import annotations

from typing import Any

from flask import request

from postroom.core.errors import PostroomError, ValidationError


class BadRequest(PostroomError):
    code = "bad_request"
    http_status = 400


class UnsupportedMediaType(PostroomError):
    code = "unsupported_media_type"
    http_status = 415


def json_object() -> dict[str, Any]:
    if not request.is_json:
        raise UnsupportedMediaType(
            "send a JSON body with 'Content-Type: application/json'", code="json_required"
        )
    data = request.get_json(silent=True)
    if data is None:
        raise BadRequest("the body is not valid JSON", code="invalid_json")
    if not isinstance(data, dict):
        raise ValidationError("the body must be a JSON object", code="invalid_body")
    return data
