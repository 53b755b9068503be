"""Webhook alerts: the rules a subscriber's URL and each delivery keep. Pure.

A webhook body is signed with HMAC-SHA256 under the subscription's own secret, over
``"<timestamp>.<body>"``; the header ``Postroom-Signature: t=<unix seconds>,v1=<hex>``
carries both, so a receiver checks the signature and refuses an old timestamp (a
replay). A URL must be https in production (http elsewhere), and its host must not be a
loopback, private, link-local, multicast or reserved address, when it is given and again
for every address it resolves to at delivery (no server-side request forgery), unless
``allow_private`` (development and tests only).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from postroom.core.errors import ValidationError

MAX_URL = 500
#: After this many failed attempts a delivery is ``failed`` (about a day of tries).
MAX_ATTEMPTS = 8
FIRST_DELAY = timedelta(minutes=1)
MAX_DELAY = timedelta(hours=6)


def check_url(url: str, *, production: bool) -> str:
    """``url`` if it may receive webhooks: http(s), a host, no credentials in it, https
    in production, and no literal address that ``address_allowed`` refuses."""
    if not isinstance(url, str) or not 0 < len(url) <= MAX_URL:
        raise ValidationError("a webhook URL is up to 500 characters", code="invalid_webhook_url")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("a webhook URL is http(s)://host/...", code="invalid_webhook_url")
    if parts.username or parts.password:
        raise ValidationError("no credentials in a webhook URL", code="invalid_webhook_url")
    if production and parts.scheme != "https":
        raise ValidationError("webhooks are https in production", code="webhook_not_https")
    return url.strip()


def address_allowed(address: str, *, allow_private: bool) -> bool:
    """Whether a webhook may be delivered to ``address`` (an IP the host resolved to)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # link-local (a cloud's metadata service) stays refused even in development
    if allow_private and (ip.is_loopback or ip.is_private) and not ip.is_link_local:
        return True
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Postroom-Signature`` header of ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def next_attempt(attempts: int, now: datetime) -> datetime | None:
    """When to try again after ``attempts`` failures; None once they are spent."""
    if attempts >= MAX_ATTEMPTS:
        return None
    delay: timedelta = min(MAX_DELAY, FIRST_DELAY * 2 ** max(0, attempts - 1))
    return now + delay
