"""What the carrier adapters share: HTTP with timeouts, retries with backoff, rate-limit
handling, and OAuth client-credentials tokens kept until they expire.

A request that times out, cannot connect, or answers 5xx is tried again after 0.5 s,
1 s, 2 s...; a 429 waits what its ``Retry-After`` says (at most ``max_wait``). When the
attempts are spent the caller gets a ``CarrierError`` with a stable code
(``carrier_timeout``, ``carrier_unavailable``, ``carrier_rate_limited``), which becomes
that number's ``TrackingFailure``. Credentials travel only in headers: no error message
or log line ever holds them.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from postroom.core import __version__

log = logging.getLogger(__name__)

USER_AGENT = f"postroom/{__version__} (+tracking)"


class CarrierError(Exception):
    """A carrier could not answer; ``code`` is the TrackingFailure's code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@attrs.frozen
class HttpAnswer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON; ``carrier_bad_answer`` when it is not."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as error:
            raise CarrierError("carrier_bad_answer", "the carrier answered no JSON") from error


@attrs.define
class CarrierHttp:
    """HTTP to one carrier's base URL (``http`` or ``https`` only)."""

    base_url: str
    timeout: float = 10.0
    attempts: int = 3
    max_wait: float = 30.0
    sleep: Callable[[float], None] = time.sleep

    def __attrs_post_init__(self) -> None:
        if urllib.parse.urlsplit(self.base_url).scheme not in ("http", "https"):
            raise ValueError(f"a carrier's base URL is http or https, not {self.base_url!r}")
        self.base_url = self.base_url.rstrip("/")

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> HttpAnswer:
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        all_headers = {"User-Agent": USER_AGENT, **(headers or {})}
        last = CarrierError("carrier_unavailable", "no attempt made")
        for attempt in range(self.attempts):
            if attempt:
                self.sleep(min(self.max_wait, 0.5 * 2 ** (attempt - 1)))
            try:
                answer = self._once(method, url, all_headers, body)
            except CarrierError as error:
                last = error
                continue
            if answer.status == 429:
                last = CarrierError("carrier_rate_limited", "the carrier asks to slow down")
                if attempt + 1 < self.attempts:
                    self.sleep(self._retry_after(answer))
                continue
            if answer.status >= 500:
                last = CarrierError("carrier_unavailable", f"the carrier answered {answer.status}")
                continue
            return answer
        raise last

    def _once(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> HttpAnswer:
        request = urllib.request.Request(url, data=body, headers=dict(headers), method=method)  # noqa: S310 - scheme checked in __attrs_post_init__
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return HttpAnswer(response.status, dict(response.headers), response.read(2_000_000))
        except urllib.error.HTTPError as error:
            return HttpAnswer(error.code, dict(error.headers or {}), error.read(2_000_000))
        except TimeoutError as error:
            raise CarrierError("carrier_timeout", "the carrier did not answer in time") from error
        except (urllib.error.URLError, ConnectionError, OSError) as error:
            reason = getattr(error, "reason", error)
            if isinstance(reason, TimeoutError):
                raise CarrierError(
                    "carrier_timeout", "the carrier did not answer in time"
                ) from error
            raise CarrierError("carrier_unavailable", "the carrier cannot be reached") from error

    def _retry_after(self, answer: HttpAnswer) -> float:
        value = next((v for k, v in answer.headers.items() if k.lower() == "retry-after"), "1")
        try:
            return max(0.0, min(self.max_wait, float(value)))
        except ValueError:
            return min(self.max_wait, 1.0)


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


@attrs.define
class OAuthToken:
    """An OAuth 2 client-credentials bearer token, fetched on first use and again a
    minute before it expires (``fetch`` answers the token endpoint's JSON)."""

    fetch: Callable[[], Mapping[str, Any]]
    _token: str | None = None
    _expires: datetime | None = None

    def header(self, now: datetime) -> str:
        if self._token is None or self._expires is None or now >= self._expires:
            answer = self.fetch()
            token = answer.get("access_token")
            if not isinstance(token, str) or not token:
                raise CarrierError("carrier_auth_failed", "the carrier gave no access token")
            try:
                lifetime = int(answer.get("expires_in", 3600))
            except (TypeError, ValueError):
                lifetime = 3600
            self._token = token
            self._expires = now + timedelta(seconds=max(0, lifetime - 60))
        return f"Bearer {self._token}"

    def forget(self) -> None:
        """Drop the token (the carrier refused it: 401)."""
        self._token = None
        self._expires = None


def ensure_ok(answer: HttpAnswer, *, what: str) -> HttpAnswer:
    """``answer`` when 2xx; else the CarrierError its status means."""
    if 200 <= answer.status < 300:
        return answer
    if answer.status in (401, 403):
        raise CarrierError("carrier_auth_failed", f"the carrier refused the {what} credentials")
    if answer.status == 404:
        raise CarrierError("not_found", "the carrier does not know this number")
    raise CarrierError("carrier_bad_answer", f"the carrier answered {answer.status}")
