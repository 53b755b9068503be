"""Security headers on every response, and no NUL character in a form or a query."""

from __future__ import annotations

from itertools import chain

from flask import Flask, Response, request
from flask_babel import gettext as _
from werkzeug.exceptions import BadRequest

from postroom.frontends.web.errors import API_PREFIX

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def init_app(app: Flask) -> None:
    production = app.config["SESSION_COOKIE_SECURE"]

    @app.before_request
    def refuse_nul() -> None:
        # No person types a NUL, and PostgreSQL's text cannot hold one: a sign-in or a
        # key's label carrying one failed in the store (a 500) before any check saw it.
        # Uploaded files are not form fields: their bytes are theirs. The JSON API keeps
        # to its own document (each field's checks, the 4xx it states).
        if request.path.startswith(API_PREFIX):
            return
        fields = chain(request.args.listvalues(), request.form.listvalues())
        if any("\x00" in value for values in fields for value in values):
            raise BadRequest(_("A field holds a NUL character."))

    @app.after_request
    def add_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if production or request.is_secure:
            headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
        return response
