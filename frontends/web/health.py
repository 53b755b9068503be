"""``/healthz``: for load balancers and operators; checks the database.

Anyone gets ``{"status": "ok"|"fail"}`` (200 or 503). The details (version, plugins,
database kind, worker heartbeat) tell an attacker what to aim at, so they go only to a
client on this machine's loopback interface that came straight to postroom, or to one
presenting ``Authorization: Bearer <POSTROOM_HEALTH_TOKEN>``.

Who counts as such a client: ``operators.operator_request`` (docs/security.md).
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.operators import operator_request

bp = Blueprint("health", __name__)


def may_see_details() -> bool:
    return operator_request(current_postroom().config.health_token)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    report = current_postroom().health()
    status = 200 if report["status"] == "ok" else 503
    response = jsonify(report if may_see_details() else {"status": report["status"]})
    response.headers["Cache-Control"] = "no-store"
    return response, status
