"""``/healthz``: for load balancers and operators; checks the database."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from postroom.frontends.web.context import current_postroom

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    report = current_postroom().health()
    status = 200 if report["status"] == "ok" else 503
    response = jsonify(report)
    response.headers["Cache-Control"] = "no-store"
    return response, status
