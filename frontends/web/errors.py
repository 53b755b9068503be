"""Errors answer in the caller's language: JSON under /api/, an HTML page elsewhere.

Every PostroomError keeps its stable code; an unexpected exception is logged
and answered with a generic 500 that reveals nothing of the internals.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, make_response, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from werkzeug.exceptions import HTTPException, InternalServerError

from postroom.core.errors import PostroomError, Unauthenticated

log = logging.getLogger(__name__)

API_PREFIX = "/api/"

HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}


def wants_json() -> bool:
    return request.path.startswith(API_PREFIX)


def error_response(status: int, code: str, message: str) -> tuple[Response | str, int]:
    if wants_json():
        return jsonify({"error": {"code": code, "message": message}}), status
    try:
        return render_template("error.html", status=status, code=code, message=message), status
    except Exception:  # the page itself failed: answer plainly rather than not at all
        log.exception("error page failed to render")
        return f"<h1>Error {status}</h1><p>{escape(message)}</p><p>{escape(code)}</p>", status


def init_app(app: Flask) -> None:
    @app.errorhandler(PostroomError)
    def domain_error(error: PostroomError) -> tuple[Response | str, int]:
        if wants_json():
            response = jsonify({"error": error.to_dict()})
            if isinstance(error, Unauthenticated):
                response.headers["WWW-Authenticate"] = 'Bearer realm="postroom"'
            return response, error.http_status
        return error_response(error.http_status, error.code, error.message)

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> tuple[Response | str, int]:
        return error_response(
            400, "csrf_failed", _("The form expired or was not sent from this site; try again.")
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = HTTP_CODES.get(status, "http_error")
        body, status = error_response(status, code, error.description or code)
        response = make_response(body, status)
        # Werkzeug's own headers carry meaning: Allow on a 405 (RFC 9110), Retry-After...
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[Response | str, int]:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(
            500, "internal_error", _("Something went wrong on our side; it has been logged.")
        )

    # Werkzeug's 500 for an error raised inside another handler ends up here too.
    app.register_error_handler(InternalServerError, unexpected)
