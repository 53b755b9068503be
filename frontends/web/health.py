"""``/healthz``: for load balancers and operators; checks the database.

Anyone gets ``{"status": "ok"|"fail"}`` (200 or 503). The details (version, plugins,
database kind, worker heartbeat) tell an attacker what to aim at, so they go only to a
client on this machine's loopback interface that came straight to postroom, or to one
presenting ``Authorization: Bearer <POSTROOM_HEALTH_TOKEN>``.

Forwarding headers (``X-Forwarded-For``, ``Forwarded``, ``X-Real-IP``) are never trusted
for the address: anyone can send them. A request that carries one came through a proxy,
so it is not treated as a loopback client even when the proxy itself connects from
127.0.0.1 (docs/security.md).
"""

from __future__ import annotations

import hmac
import ipaddress

from flask import Blueprint, Response, jsonify, request

from postroom.frontends.web.context import current_postroom

bp = Blueprint("health", __name__)

FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def _loopback_client() -> bool:
    if any(header in request.headers for header in FORWARDING_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:  # a Unix socket or no address at all: not known to be local
        return False


def _token_presented() -> bool:
    expected = current_postroom().config.health_token
    if not expected:
        return False
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    # compare_digest: the time taken says nothing of how much of the token matched.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), expected.encode()
    )


def may_see_details() -> bool:
    return _loopback_client() or _token_presented()


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    report = current_postroom().health()
    status = 200 if report["status"] == "ok" else 503
    response = jsonify(report if may_see_details() else {"status": report["status"]})
    response.headers["Cache-Control"] = "no-store"
    return response, status
