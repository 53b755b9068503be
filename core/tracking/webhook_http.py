"""Webhook delivery over HTTP(S), stdlib only: the host is resolved here, every address
checked (``webhooks.address_allowed``), and the connection made to the checked address
itself, with the URL's host name for the Host header and TLS (SNI and certificate), so a
DNS answer that changes between the check and the connection cannot send the request
to a private address."""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit

import attrs

from postroom.core.tracking.webhooks import address_allowed


class WebhookRefused(Exception):
    """The URL resolves to an address webhooks may not reach."""


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


@attrs.frozen
class HttpWebhooks:
    """``ports.WebhookPoster`` over the network."""

    allow_private: bool = False
    timeout: float = 10.0

    def check(self, url: str) -> None:
        self._address(url)

    def _address(self, url: str) -> str:
        """The address to connect to: every one the host resolves to must be allowed."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as error:
            raise WebhookRefused(f"{host} does not resolve") from error
        found = {str(info[4][0]) for info in infos}
        refused = [a for a in found if not address_allowed(a, allow_private=self.allow_private)]
        if refused or not found:
            raise WebhookRefused(f"{host} resolves to an address webhooks may not reach")
        return sorted(found)[0]

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        parts = urlsplit(url)
        host = parts.hostname or ""
        secure = parts.scheme == "https"
        port = parts.port or (443 if secure else 80)
        address = self._address(url)
        kind = _PinnedHTTPSConnection if secure else _PinnedHTTPConnection
        connection = kind(host, port, address, self.timeout)
        try:
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            connection.request("POST", path, body=body, headers=dict(headers))
            response = connection.getresponse()
            response.read(10_000)
            return response.status
        finally:
            connection.close()
