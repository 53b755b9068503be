"""Who is an operator of this installation, for the pages that tell more than the world
should know (``/healthz``'s details, ``/metrics``).

A client on this machine's loopback interface that came straight to postroom, or one
presenting ``Authorization: Bearer <token>`` when a token is set. Forwarding headers
(``X-Forwarded-For``, ``Forwarded``, ``X-Real-IP``) are never trusted for the address:
anyone can send them. A request that carries one came through a proxy, so it is not
treated as a loopback client even when the proxy itself connects from 127.0.0.1.
"""

from __future__ import annotations

import hmac
import ipaddress

from flask import request

FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def _loopback_client() -> bool:
    if any(header in request.headers for header in FORWARDING_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:  # a Unix socket or no address at all: not known to be local
        return False


def _token_presented(expected: str | None) -> bool:
    if not expected:
        return False
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    # compare_digest: the time taken says nothing of how much of the token matched.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), expected.encode()
    )


def operator_request(token: str | None) -> bool:
    """Whether this request comes from an operator: loopback, or bearing ``token``."""
    return _loopback_client() or _token_presented(token)
