"""The JSON API under /api/v1 and its OpenAPI document."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from postroom.frontends.web.apidoc import openapi_document
from postroom.frontends.web.auth import public
from postroom.frontends.web.context import current_postroom

API_VERSION = "1"

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.get("/openapi.json")
@public
def openapi() -> Response:
    return jsonify(openapi_document(current_postroom().version))


@bp.get("/version")
@public
def version() -> Response:
    return jsonify({"version": current_postroom().version, "api_version": API_VERSION})
